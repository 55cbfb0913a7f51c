package config

import (
	"encoding/json"
	"errors"
	"reflect"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// parsed is a document after the strict walk and the decode.
type parsed struct {
	obj    any // *corev1.Service, ... or the Istio spec message
	meta   metav1.ObjectMeta
	visits []visit
}

var objectMetaType = reflect.TypeFor[metav1.ObjectMeta]()

// parseDoc walks the document strictly and, when the walk finds no error,
// decodes it into its typed object.
func parseDoc(c *docCtx, root *yaml.Node, ki *kindInfo) (parsed, bool) {
	before := c.nerr
	w := newWalker(c)
	if ki.goType != nil {
		w.goValue(root, ki.goType, fieldPath{})
	} else {
		w.istioDoc(root, ki.newSpec())
	}
	if c.nerr > before {
		return parsed{}, false
	}
	var p parsed
	var ok bool
	if ki.goType != nil {
		p, ok = decodeKube(c, root, ki.goType)
	} else {
		p, ok = decodeIstio(c, root, ki.newSpec())
	}
	p.visits = w.visits
	return p, ok
}

// istioDoc walks an Istio document: Kubernetes metadata, a protobuf spec and
// a status written by the cluster.
func (w *walker) istioDoc(root *yaml.Node, spec proto.Message) {
	known := []string{"apiVersion", "kind", "metadata", "spec", "status"}
	w.eachKey(root, fieldPath{}, func(k, v *yaml.Node) {
		p := fieldPath{}.field(k.Value)
		switch k.Value {
		case "apiVersion", "kind":
			w.record(p, k, v, false)
		case "metadata":
			w.record(p, k, v, false)
			if !isNull(v) {
				w.goValue(v, objectMetaType, p)
			}
		case "spec":
			w.record(p, k, v, false)
			if !isNull(v) {
				w.protoMessage(v, spec.ProtoReflect().Descriptor(), p)
			}
		case "status":
			w.record(p, k, v, false)
		default:
			w.unknown(k, fieldPath{}, known)
		}
	})
}

func decodeKube(c *docCtx, root *yaml.Node, t reflect.Type) (parsed, bool) {
	data, err := toJSON(root)
	obj := reflect.New(t).Interface()
	if err == nil {
		err = json.Unmarshal(data, obj)
	}
	if err != nil {
		reportDecodeError(c, err)
		return parsed{}, false
	}
	m := obj.(metav1.Object)
	return parsed{obj: obj, meta: metav1.ObjectMeta{Labels: m.GetLabels(), Annotations: m.GetAnnotations()}}, true
}

func decodeIstio(c *docCtx, root *yaml.Node, spec proto.Message) (parsed, bool) {
	var p parsed
	if _, md := mapGet(root, "metadata"); md != nil {
		data, err := toJSON(md)
		if err == nil {
			err = json.Unmarshal(data, &p.meta)
		}
		if err != nil {
			c.errorf("metadata", "cannot decode: %v", err)
			return p, false
		}
	}
	if _, sn := mapGet(root, "spec"); sn != nil && !isNull(sn) {
		data, err := toJSON(sn)
		if err == nil {
			err = protojson.UnmarshalOptions{DiscardUnknown: false}.Unmarshal(data, spec)
		}
		if err != nil {
			c.errorf("spec", "cannot decode: %v", err)
			return p, false
		}
	}
	p.obj = spec
	return p, true
}

// reportDecodeError reports an encoding/json error at the best field path
// it names (encoding/json gives dotted paths without list indices).
func reportDecodeError(c *docCtx, err error) {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		c.errorf(te.Field, "cannot decode: %v", err)
		return
	}
	c.errorf("", "cannot decode: %v", err)
}
