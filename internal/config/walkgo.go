package config

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"slices"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// goField is one JSON field of a Go struct, after inlining embedded structs.
type goField struct {
	typ reflect.Type
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	intOrString     = reflect.TypeFor[intstr.IntOrString]()
)

// goValue walks n against Go type t the way encoding/json would decode it,
// but strictly: field names are case-sensitive and unknown ones are errors.
func (w *walker) goValue(n *yaml.Node, t reflect.Type, p fieldPath) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		w.goUnmarshaler(n, t, p)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		w.goStruct(n, t, p)
	case reflect.Map:
		w.goMap(n, t, p)
	case reflect.Slice:
		w.goSlice(n, t, p)
	case reflect.String:
		w.expectScalar(n, p, sString, 0)
	case reflect.Bool:
		w.expectScalar(n, p, sBool, 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		w.expectScalar(n, p, sInt, t.Bits())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		w.expectScalar(n, p, sUint, t.Bits())
	case reflect.Float32, reflect.Float64:
		w.expectScalar(n, p, sFloat, 0)
	case reflect.Interface:
		// any value decodes into an interface
	default:
		w.errorf(n.Line, p, "cannot decode into Go type %s", t)
	}
}

// goUnmarshaler checks a value of a type with its own JSON decoding
// (IntOrString, Quantity, Time, ...) by decoding it with that type.
func (w *walker) goUnmarshaler(n *yaml.Node, t reflect.Type, p fieldPath) {
	if t == intOrString {
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!str") {
			w.errorf(n.Line, p, "expected an integer or a string, got %s", describe(n))
		} else if n.ShortTag() == "!!int" {
			w.checkRange(n, p, false, 32)
		}
		return
	}
	data, err := toJSON(n)
	if err == nil {
		err = json.Unmarshal(data, reflect.New(t).Interface())
	}
	if err != nil {
		w.errorf(n.Line, p, "invalid value %s: %v", describe(n), err)
	}
}

func (w *walker) goStruct(n *yaml.Node, t reflect.Type, p fieldPath) {
	fields := w.goFields(t)
	w.eachKey(n, p, func(k, v *yaml.Node) {
		f, ok := fields[k.Value]
		if !ok {
			w.unknown(k, p, sortedKeys(fields))
			return
		}
		fp := p.field(k.Value)
		w.record(fp, k, v, false)
		if !isNull(v) {
			w.goValue(v, f.typ, fp)
		}
	})
}

func (w *walker) goMap(n *yaml.Node, t reflect.Type, p fieldPath) {
	w.eachKey(n, p, func(k, v *yaml.Node) {
		ep := p.key(k.Value)
		w.c.lines[ep.concrete] = k.Line
		if !isNull(v) {
			w.goValue(v, t.Elem(), ep)
		}
	})
}

func (w *walker) goSlice(n *yaml.Node, t reflect.Type, p fieldPath) {
	if t.Elem().Kind() == reflect.Uint8 {
		if w.expectScalar(n, p, sString, 0) {
			if _, err := base64.StdEncoding.DecodeString(n.Value); err != nil {
				w.errorf(n.Line, p, "expected base64 data: %v", err)
			}
		}
		return
	}
	w.eachItem(n, p, func(_ int, e *yaml.Node, ep fieldPath) { w.goValue(e, t.Elem(), ep) })
}

// goFields returns the JSON fields of struct t by name.
func (w *walker) goFields(t reflect.Type) map[string]goField {
	if f, ok := w.goCache[t]; ok {
		return f
	}
	fields := map[string]goField{}
	for _, f := range orderedGoFields(t) {
		fields[f.name] = goField{typ: f.typ}
	}
	w.goCache[t] = fields
	return fields
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
