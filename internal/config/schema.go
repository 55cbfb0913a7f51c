package config

import (
	"reflect"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// schemaField is one field of a schema, for the reference documentation:
// suffix is "[]" for a list and "[*]" for a map; child is nil for a value
// without fields (a scalar, a well-known type, an opaque Kubernetes type).
type schemaField struct {
	name   string
	suffix string
	child  schemaType
}

// schemaType lists the fields of a message or struct, in declaration order.
type schemaType interface {
	fields() []schemaField
}

// protoSchema is a protobuf message.
type protoSchema struct {
	md protoreflect.MessageDescriptor
}

func (s protoSchema) fields() []schemaField {
	var out []schemaField
	fds := s.md.Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		f := schemaField{name: fd.JSONName()}
		elem := fd
		switch {
		case fd.IsMap():
			f.suffix, elem = "[*]", fd.MapValue()
		case fd.IsList():
			f.suffix = "[]"
		}
		if md := elem.Message(); md != nil && !strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
			f.child = protoSchema{md}
		}
		out = append(out, f)
	}
	return out
}

// goSchema is a Go struct decoded by encoding/json.
type goSchema struct{ t reflect.Type }

func (s goSchema) fields() []schemaField {
	var out []schemaField
	for _, f := range orderedGoFields(s.t) {
		sf := schemaField{name: f.name}
		t := deref(f.typ)
		switch {
		case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
			sf.suffix, t = "[]", deref(t.Elem())
		case t.Kind() == reflect.Map:
			sf.suffix, t = "[*]", deref(t.Elem())
		}
		if t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(jsonUnmarshaler) {
			sf.child = goSchema{t}
		}
		out = append(out, sf)
	}
	return out
}

// istioRootSchema is the top level of an Istio document.
type istioRootSchema struct {
	spec protoreflect.MessageDescriptor
}

func (s istioRootSchema) fields() []schemaField {
	return []schemaField{
		{name: "apiVersion"}, {name: "kind"},
		{name: "metadata", child: goSchema{objectMetaType}},
		{name: "spec", child: protoSchema{s.spec}},
		{name: "status"},
	}
}

// rootSchema returns the schema of a whole document of kind ki.
func rootSchema(ki *kindInfo) schemaType {
	if ki.goType != nil {
		return goSchema{ki.goType}
	}
	return istioRootSchema{ki.newSpec().ProtoReflect().Descriptor()}
}

type namedGoField struct {
	name string
	typ  reflect.Type
}

// orderedGoFields lists the JSON fields of struct t as encoding/json sees
// them, in declaration order: embedded structs without a JSON name are
// inlined and "-" fields skipped.
func orderedGoFields(t reflect.Type) []namedGoField {
	var out []namedGoField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" || (!sf.IsExported() && !sf.Anonymous) {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if ft := deref(sf.Type); sf.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			out = append(out, orderedGoFields(ft)...)
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out = append(out, namedGoField{name: name, typ: sf.Type})
	}
	return out
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
