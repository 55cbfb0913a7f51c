package config

import (
	"testing"

	meshconfig "istio.io/api/mesh/v1alpha1"
)

func TestMeshConfigDiagnostics(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "unknown field inside the mesh text, at its line in the file", in: `
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |-
    rootNamespace: istio-system
    outboundTrafficPolicy:
      mod: REGISTRY_ONLY
`, want: []string{
			`t.yaml:10: ConfigMap/istio-system/istio: data.mesh.outboundTrafficPolicy.mod: unknown field (did you mean "mode"?)`,
		}},
		{name: "bad enum", in: `
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |
    outboundTrafficPolicy:
      mode: SOMETIMES
`, want: []string{
			`t.yaml:9: ConfigMap/istio-system/istio: data.mesh.outboundTrafficPolicy.mode: invalid value "SOMETIMES": must be one of ALLOW_ANY, ALLOW_ANY_DYNAMIC_DNS, REGISTRY_ONLY`,
		}},
		{name: "fields not acted on are warned about", in: `
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |
    enablePrometheusMerge: true
`, want: []string{
			`t.yaml:8: warning: ConfigMap/istio-system/istio: data.mesh.enablePrometheusMerge: field not yet supported; ignored`,
		}},
		{name: "an application's ConfigMap is ignored", in: `
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: default
data:
  mesh: "not: [valid"
`, want: []string{
			`t.yaml:1: warning: ConfigMap/default/istio: kind ConfigMap (v1) is ignored: Halyard does not use it`,
		}},
	})
}

func TestMeshConfigOverlaysDefaults(t *testing.T) {
	snap, diags := Parse("t.yaml", []byte(`
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |
    outboundTrafficPolicy:
      mode: REGISTRY_ONLY
`))
	if snap == nil {
		t.Fatalf("rejected: %v", diags)
	}
	if got := snap.Mesh.GetOutboundTrafficPolicy().GetMode(); got != meshconfig.MeshConfig_OutboundTrafficPolicy_REGISTRY_ONLY {
		t.Errorf("outbound mode = %v, want REGISTRY_ONLY", got)
	}
	if got := snap.Mesh.GetTrustDomain(); got != "cluster.local" {
		t.Errorf("trust domain = %q, want the default cluster.local", got)
	}
	empty, _ := Parse("t.yaml", []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"))
	if got := empty.Mesh.GetOutboundTrafficPolicy().GetMode(); got != meshconfig.MeshConfig_OutboundTrafficPolicy_ALLOW_ANY {
		t.Errorf("default outbound mode = %v, want ALLOW_ANY", got)
	}
}
