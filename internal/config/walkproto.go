package config

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// protoMessage walks a mapping against a protobuf message, accepting each
// field by its JSON name or its proto name, as protojson does.
func (w *walker) protoMessage(n *yaml.Node, md protoreflect.MessageDescriptor, p fieldPath) {
	if w.wellKnown(n, md, p) {
		return
	}
	seen := map[protoreflect.FieldNumber]int{}
	oneofs := map[protoreflect.FullName]string{}
	w.eachKey(n, p, func(k, v *yaml.Node) {
		fd := md.Fields().ByJSONName(k.Value)
		if fd == nil {
			fd = md.Fields().ByName(protoreflect.Name(k.Value))
		}
		if fd == nil {
			w.unknown(k, p, protoFieldNames(md))
			return
		}
		fp := p.field(fd.JSONName())
		if line, dup := seen[fd.Number()]; dup {
			w.errorf(k.Line, fp, "field set twice (first at line %d)", line)
			return
		}
		seen[fd.Number()] = k.Line
		w.record(fp, k, v, fd.Message() != nil && !fd.IsList() && !fd.IsMap())
		if isNull(v) {
			return
		}
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
			if other, set := oneofs[o.FullName()]; set {
				w.errorf(k.Line, fp, "only one of %s may be set (%s is set too)", oneofNames(o), other)
				return
			}
			oneofs[o.FullName()] = fd.JSONName()
		}
		w.protoField(v, fd, fp)
	})
}

func protoFieldNames(md protoreflect.MessageDescriptor) []string {
	var names []string
	for i := range md.Fields().Len() {
		names = append(names, md.Fields().Get(i).JSONName())
	}
	return names
}

func oneofNames(o protoreflect.OneofDescriptor) string {
	var names []string
	for i := range o.Fields().Len() {
		names = append(names, o.Fields().Get(i).JSONName())
	}
	return strings.Join(names, ", ")
}

// protoField walks the value of one field: a map, a list or a single value.
func (w *walker) protoField(v *yaml.Node, fd protoreflect.FieldDescriptor, p fieldPath) {
	switch {
	case fd.IsMap():
		w.eachKey(v, p, func(k, e *yaml.Node) {
			ep := p.key(k.Value)
			w.c.lines[ep.concrete] = k.Line
			if isNull(e) {
				w.errorf(k.Line, ep, "null is not allowed as a map value")
				return
			}
			w.protoMapKey(k, fd.MapKey(), ep)
			w.protoSingle(e, fd.MapValue(), ep)
		})
	case fd.IsList():
		w.eachItem(v, p, func(_ int, e *yaml.Node, ep fieldPath) { w.protoSingle(e, fd, ep) })
	default:
		w.protoSingle(v, fd, p)
	}
}

// protoMapKey checks a map key written as YAML: JSON keys are strings, so
// integer and boolean keys must parse as such.
func (w *walker) protoMapKey(k *yaml.Node, kd protoreflect.FieldDescriptor, p fieldPath) {
	var err error
	switch kd.Kind() {
	case protoreflect.BoolKind:
		_, err = strconv.ParseBool(k.Value)
	case protoreflect.StringKind:
	default:
		_, err = strconv.ParseInt(k.Value, 10, 64)
	}
	if err != nil {
		w.errorf(k.Line, p, "invalid map key %q for %s keys", k.Value, kd.Kind())
	}
}

// protoSingle walks one value (not a list or a map) of field fd.
func (w *walker) protoSingle(n *yaml.Node, fd protoreflect.FieldDescriptor, p fieldPath) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		w.protoMessage(n, fd.Message(), p)
	case protoreflect.EnumKind:
		w.protoEnum(n, fd.Enum(), p)
	case protoreflect.BoolKind:
		w.expectScalar(n, p, sBool, 0)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		w.expectScalar(n, p, sInt, 32)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		w.expectScalar(n, p, sUint, 32)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		w.protoInt64(n, p, false)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		w.protoInt64(n, p, true)
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		w.expectScalar(n, p, sFloat, 0)
	case protoreflect.StringKind:
		w.expectScalar(n, p, sString, 0)
	case protoreflect.BytesKind:
		if w.expectScalar(n, p, sString, 0) {
			if _, err := base64.StdEncoding.DecodeString(n.Value); err != nil {
				w.errorf(n.Line, p, "expected base64 data: %v", err)
			}
		}
	}
}

// protoInt64 accepts a 64-bit integer as a number or, as protojson writes
// it, as a quoted decimal string.
func (w *walker) protoInt64(n *yaml.Node, p fieldPath, unsigned bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		var err error
		if unsigned {
			_, err = strconv.ParseUint(n.Value, 10, 64)
		} else {
			_, err = strconv.ParseInt(n.Value, 10, 64)
		}
		if err != nil {
			w.errorf(n.Line, p, "expected an integer, got %s", describe(n))
		}
		return
	}
	want := sInt
	if unsigned {
		want = sUint
	}
	w.expectScalar(n, p, want, 64)
}

// protoEnum accepts an enum value by name only, as the Istio CRD schemas do.
func (w *walker) protoEnum(n *yaml.Node, ed protoreflect.EnumDescriptor, p fieldPath) {
	if ed.FullName() == "google.protobuf.NullValue" {
		w.errorf(n.Line, p, "expected null, got %s", describe(n))
		return
	}
	var names []string
	for i := range ed.Values().Len() {
		names = append(names, string(ed.Values().Get(i).Name()))
	}
	slices.Sort(names)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" || ed.Values().ByName(protoreflect.Name(n.Value)) == nil {
		w.errorf(n.Line, p, "invalid value %s: must be one of %s", describe(n), strings.Join(names, ", "))
	}
}

// wellKnown walks the well-known types the way protojson expects them; it
// returns false for any other message.
func (w *walker) wellKnown(n *yaml.Node, md protoreflect.MessageDescriptor, p fieldPath) bool {
	switch md.FullName() {
	case "google.protobuf.Duration":
		w.duration(n, p)
	case "google.protobuf.Timestamp":
		if w.expectScalar(n, p, sString, 0) {
			if _, err := time.Parse(time.RFC3339Nano, n.Value); err != nil {
				w.errorf(n.Line, p, "invalid timestamp %q: want RFC 3339, like 2006-01-02T15:04:05Z", n.Value)
			}
		}
	case "google.protobuf.BoolValue", "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.Int64Value", "google.protobuf.UInt64Value", "google.protobuf.FloatValue",
		"google.protobuf.DoubleValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		w.protoSingle(n, md.Fields().ByName("value"), p)
	case "google.protobuf.Struct":
		w.eachKey(n, p, func(_, _ *yaml.Node) {})
	case "google.protobuf.ListValue":
		w.expectKind(n, p, yaml.SequenceNode)
	case "google.protobuf.Value":
	case "google.protobuf.Empty":
		if w.expectKind(n, p, yaml.MappingNode) && len(n.Content) > 0 {
			w.errorf(n.Line, p, "expected an empty mapping {}")
		}
	case "google.protobuf.FieldMask":
		w.expectScalar(n, p, sString, 0)
	case "google.protobuf.Any":
		if _, t := mapGet(n, "@type"); w.expectKind(n, p, yaml.MappingNode) && t == nil {
			w.errorf(n.Line, p, "an Any needs an @type")
		}
	default:
		return false
	}
	return true
}

// duration accepts what Istio accepts (Go durations such as 1m30s or
// 100ms) and rewrites the node in protojson's form (90s), so that the
// decoder reads the same value Istio would.
func (w *walker) duration(n *yaml.Node, p fieldPath) {
	if !w.expectScalar(n, p, sString, 0) {
		return
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		w.errorf(n.Line, p, "invalid duration %q: use a value such as 1.5s, 300ms or 1m", n.Value)
		return
	}
	n.Value, n.Tag, n.Style = protoDuration(d), "!!str", 0
}

func protoDuration(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	sec, nsec := d/time.Second, d%time.Second
	if nsec == 0 {
		return fmt.Sprintf("%s%ds", sign, sec)
	}
	return fmt.Sprintf("%s%d.%09ds", sign, sec, nsec)
}
