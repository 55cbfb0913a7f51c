package xds

import (
	"path/filepath"
	"testing"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/halyard-mesh/halyard/internal/registry"
)

// TestBuilderMatchesGenerate checks, for every golden case, that the shared
// snapshot holds exactly the resources Generate gives for the proxy.
func TestBuilderMatchesGenerate(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/*/input.yaml")
	for _, in := range dirs {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			input, pod, _ := loadCase(t, dir)
			want, err := Generate(input, pod)
			if err != nil {
				t.Fatal(err)
			}
			snap, err := NewBuilder(input).Snapshot(pod)
			if err != nil {
				t.Fatalf("Builder.Snapshot: %v", err)
			}
			for _, typeURL := range snapshotTypes {
				got := snap.GetResources(typeURL)
				if len(got) != len(want[typeURL]) {
					t.Errorf("%s: %d resources, want %d", typeURL, len(got), len(want[typeURL]))
				}
				for _, w := range want[typeURL] {
					name := cachev3.GetResourceName(w)
					if g, ok := got[name]; !ok || !proto.Equal(g, w) {
						t.Errorf("%s %q differs or is missing", typeURL, name)
					}
				}
			}
		})
	}
}

// TestBuilderSharesAcrossPods checks that two pods of one namespace get the
// same route and cluster objects, their own listeners, and distinct but
// stable versions.
func TestBuilderSharesAcrossPods(t *testing.T) {
	input, _, _ := loadCase(t, "testdata/bookinfo")
	var pods []*registry.Pod
	for i := range input.Model.Pods {
		if p := &input.Model.Pods[i]; p.ProxyID != "" && p.Namespace == "default" {
			pods = append(pods, p)
		}
	}
	if len(pods) < 2 {
		t.Fatalf("bookinfo case has %d proxies in default", len(pods))
	}
	b := NewBuilder(input)
	a, err := b.Snapshot(pods[0])
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.Snapshot(pods[1])
	if err != nil {
		t.Fatal(err)
	}
	same := func(typeURL, name string) bool {
		x, y := a.GetResources(typeURL)[name], c.GetResources(typeURL)[name]
		return x != nil && any(x) == any(y)
	}
	if !same(resource.RouteType, "9080") || !same(resource.ClusterType, "outbound|9080||reviews.default.svc.cluster.local") {
		t.Errorf("routes or clusters are not shared between %s and %s", pods[0].Name, pods[1].Name)
	}
	if same(resource.ListenerType, VirtualOutboundListener) {
		t.Errorf("virtualOutbound listener shared between pods with different addresses")
	}
	if a.GetVersion(resource.ListenerType) == c.GetVersion(resource.ListenerType) {
		t.Errorf("pods with different addresses have the same version")
	}
	again, _ := NewBuilder(input).Snapshot(pods[0])
	if again.GetVersion(resource.ClusterType) != a.GetVersion(resource.ClusterType) {
		t.Errorf("version not stable across builders")
	}
}

// TestBuilderVersionsPerType checks that a change to VirtualService weights
// changes the routes' version only, so proxies are not sent unchanged
// clusters, endpoints and listeners again.
func TestBuilderVersionsPerType(t *testing.T) {
	input, pod, _ := loadCase(t, "testdata/bookinfo")
	before, err := NewBuilder(input).Snapshot(pod)
	if err != nil {
		t.Fatal(err)
	}
	changed := *input
	changed.VirtualServices = nil
	for _, vs := range input.VirtualServices {
		vs.Spec = proto.Clone(vs.Spec).(*networking.VirtualService)
		for _, rule := range vs.Spec.Http {
			if len(rule.Route) == 2 {
				rule.Route[0].Weight, rule.Route[1].Weight = rule.Route[1].Weight, rule.Route[0].Weight
			}
		}
		changed.VirtualServices = append(changed.VirtualServices, vs)
	}
	after, err := NewBuilder(&changed).Snapshot(pod)
	if err != nil {
		t.Fatal(err)
	}
	b, a := Versions(before), Versions(after)
	if b[resource.RouteType] == a[resource.RouteType] {
		t.Fatalf("route version unchanged after a weight change")
	}
	for _, typeURL := range []string{resource.ListenerType, resource.ClusterType, resource.EndpointType} {
		if b[typeURL] != a[typeURL] {
			t.Errorf("%s version changed although only routes did", typeURL)
		}
	}
}
