package config

import (
	"encoding/json"
	"reflect"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshconfig "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"
)

// The mesh-wide configuration lives where Istio keeps it: the `mesh` key of
// the ConfigMap "istio" in the root namespace. Other ConfigMaps are ignored
// with a warning, like other Kubernetes kinds Halyard does not use.
const (
	MeshConfigMapName      = "istio"
	MeshConfigMapNamespace = "istio-system"
	meshConfigKey          = "mesh"
)

var configMapKind = &kindInfo{
	kind: "ConfigMap", versions: []string{"v1"}, goType: reflect.TypeFor[corev1.ConfigMap](),
	validate: func(c *docCtx, obj any) {
		parseMeshConfig(c, obj.(*corev1.ConfigMap).Data[meshConfigKey])
	},
	apply: func(s *Snapshot, m Meta, obj any) {
		// Valid by now: validate reported any error and the load was rejected.
		s.Mesh, _ = decodeMeshConfig(obj.(*corev1.ConfigMap).Data[meshConfigKey])
	},
}

// isMeshConfigMap says whether ref (Kind/namespace/name) is the mesh's
// ConfigMap.
func isMeshConfigMap(ref string) bool {
	return ref == "ConfigMap/"+MeshConfigMapNamespace+"/"+MeshConfigMapName
}

// DefaultMeshConfig is Istio's default mesh configuration, as far as Halyard
// acts on it.
func DefaultMeshConfig() *meshconfig.MeshConfig {
	return &meshconfig.MeshConfig{
		RootNamespace: MeshConfigMapNamespace,
		TrustDomain:   "cluster.local",
		OutboundTrafficPolicy: &meshconfig.MeshConfig_OutboundTrafficPolicy{
			Mode: meshconfig.MeshConfig_OutboundTrafficPolicy_ALLOW_ANY,
		},
		EnableTracing:     true,
		AccessLogEncoding: meshconfig.MeshConfig_TEXT,
		ConnectTimeout:    durationpb.New(10e9),
		DefaultConfig: &meshconfig.ProxyConfig{
			Tracing: &meshconfig.Tracing{Sampling: 1},
		},
		EnableAutoMtls: wrapperspb.Bool(true),
	}
}

// parseMeshConfig checks the text of a MeshConfig strictly, with the line
// numbers of the document it is embedded in.
func parseMeshConfig(c *docCtx, text string) {
	p := fieldPath{}.field("data").field(meshConfigKey)
	keyLine := c.lines.of(fieldPath{}.field("data").key(meshConfigKey).concrete)
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(text), &root); err != nil {
		line, msg := yamlErrorLine(err)
		c.errorAt(keyLine+line, p.concrete, "invalid YAML: %s", msg)
		return
	}
	if len(root.Content) == 0 {
		return
	}
	shiftLines(&root, keyLine)
	w := newWalker(c)
	before := c.nerr
	w.protoMessage(root.Content[0], (&meshconfig.MeshConfig{}).ProtoReflect().Descriptor(), p)
	if c.nerr > before {
		return
	}
	if _, err := decodeMeshConfig(text); err != nil {
		c.errorf(p.concrete, "cannot decode: %v", err)
		return
	}
	checkSupport(c, w.visits, meshConfigRules)
}

// decodeMeshConfig applies text over Istio's defaults, as istiod does: a
// field written in the text replaces the default, also with its zero value
// (outboundTrafficPolicy.mode REGISTRY_ONLY is the enum's 0), so the two are
// merged as JSON objects, not as messages.
func decodeMeshConfig(text string) (*meshconfig.MeshConfig, error) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(text), &root); err != nil {
		return nil, err
	}
	if len(root.Content) == 0 {
		return DefaultMeshConfig(), nil
	}
	user, err := toJSON(root.Content[0])
	if err != nil {
		return nil, err
	}
	defaults, err := protojson.Marshal(DefaultMeshConfig())
	if err != nil {
		return nil, err
	}
	var merged, over map[string]any
	if err := json.Unmarshal(defaults, &merged); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(user, &over); err != nil {
		return nil, err
	}
	data, err := json.Marshal(mergeJSON(merged, over))
	if err != nil {
		return nil, err
	}
	mc := &meshconfig.MeshConfig{}
	return mc, protojson.Unmarshal(data, mc)
}

// mergeJSON writes over onto base: objects merge key by key, anything else
// replaces.
func mergeJSON(base, over map[string]any) map[string]any {
	for k, v := range over {
		if vo, ok := v.(map[string]any); ok {
			if bo, ok := base[k].(map[string]any); ok {
				base[k] = mergeJSON(bo, vo)
				continue
			}
		}
		base[k] = v
	}
	return base
}

// shiftLines moves every node of a block scalar's content to the lines it
// has in the enclosing file (the content starts on the line after the key).
func shiftLines(n *yaml.Node, by int) {
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by)
	}
}
