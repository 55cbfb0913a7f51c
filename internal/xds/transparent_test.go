package xds

import (
	"testing"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/halyard-mesh/halyard/internal/registry"
)

// TestOutboundPolicyPerWorkload: proxies of one namespace whose Sidecars
// give them different outbound policies get different route
// configurations (the policy is part of their shared class), and explicit
// proxies get no catch-all virtual host at all.
func TestOutboundPolicyPerWorkload(t *testing.T) {
	snap := loadConfig(t, "testdata/transparent-registry-only/input.yaml")
	pods := []registry.Pod{
		{Name: "client-0", Namespace: "default", Labels: map[string]string{"app": "client"}, IP: "198.18.0.9", ProxyID: "c"},
		{Name: "other-0", Namespace: "default", Labels: map[string]string{"app": "other"}, IP: "198.18.0.10", ProxyID: "o"},
		{Name: "explicit-0", Namespace: "default", Labels: map[string]string{"app": "client"}, OutboundAddress: "127.0.0.1:15001", ProxyID: "e"},
	}
	model, _ := registry.Build(snap, pods, "")
	b := NewBuilder(&Input{Model: model, Mesh: snap.Mesh, Sidecars: snap.Sidecars})
	want := map[string]string{"client-0": "block_all", "other-0": "allow_any", "explicit-0": "reviews.default.svc.cluster.local:9080"}
	for i := range model.Pods {
		p := &model.Pods[i]
		s, err := b.Snapshot(p)
		if err != nil {
			t.Fatal(err)
		}
		rc := s.GetResources(resource.RouteType)["9080"].(*route.RouteConfiguration)
		vhs := rc.GetVirtualHosts()
		if got := vhs[len(vhs)-1].GetName(); got != want[p.Name] {
			t.Errorf("%s: last virtual host %q, want %q", p.Name, got, want[p.Name])
		}
	}
}
