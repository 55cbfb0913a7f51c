package xds

import (
	"math/rand/v2"
	"slices"
	"testing"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/halyard-mesh/halyard/internal/registry"
)

// TestBookinfoRoutes checks the reviews routes by hand, so that a golden
// file rewritten with -update cannot silently lose them.
func TestBookinfoRoutes(t *testing.T) {
	res := generateCase(t, "testdata/bookinfo")
	rc := find[*route.RouteConfiguration](t, res[resource.RouteType], "9080")
	var vh *route.VirtualHost
	for _, v := range rc.VirtualHosts {
		if v.Name == "reviews.default.svc.cluster.local:9080" {
			vh = v
		}
	}
	if vh == nil || len(vh.Routes) != 2 {
		t.Fatalf("reviews virtual host: %v", vh)
	}
	jason := vh.Routes[0]
	if h := jason.Match.Headers; len(h) != 1 || h[0].Name != "end-user" || h[0].GetStringMatch().GetExact() != "jason" {
		t.Errorf("first route match = %v", jason.Match)
	}
	if c := jason.GetRoute().GetCluster(); c != "outbound|9080|v2|reviews.default.svc.cluster.local" {
		t.Errorf("jason goes to %q", c)
	}
	split := vh.Routes[1].GetRoute().GetWeightedClusters().GetClusters()
	if len(split) != 2 || split[0].Name != "outbound|9080|v1|reviews.default.svc.cluster.local" || split[0].Weight.GetValue() != 95 ||
		split[1].Name != "outbound|9080|v3|reviews.default.svc.cluster.local" || split[1].Weight.GetValue() != 5 {
		t.Errorf("split = %v", split)
	}
}

func find[T types.Resource](t *testing.T, items []types.Resource, name string) T {
	t.Helper()
	for _, r := range items {
		if v, ok := r.(T); ok && cachev3.GetResourceName(r) == name {
			return v
		}
	}
	t.Fatalf("no resource %q", name)
	var zero T
	return zero
}

// TestDeterministic checks that the version only depends on the content:
// the same input, or the same objects in another order, give the same
// version, and a change gives another.
func TestDeterministic(t *testing.T) {
	in, pod, _ := loadCase(t, "testdata/bookinfo")
	v1 := version(t, in, pod)
	for i := range 5 {
		r := rand.New(rand.NewPCG(uint64(i), 1))
		shuffled := *in
		shuffled.VirtualServices = slices.Clone(in.VirtualServices)
		shuffled.DestinationRules = slices.Clone(in.DestinationRules)
		r.Shuffle(len(shuffled.VirtualServices), func(i, j int) {
			shuffled.VirtualServices[i], shuffled.VirtualServices[j] = shuffled.VirtualServices[j], shuffled.VirtualServices[i]
		})
		r.Shuffle(len(shuffled.DestinationRules), func(i, j int) {
			shuffled.DestinationRules[i], shuffled.DestinationRules[j] = shuffled.DestinationRules[j], shuffled.DestinationRules[i]
		})
		if v := version(t, &shuffled, pod); v != v1 {
			t.Fatalf("version changed from %s to %s", v1, v)
		}
	}
	changed := *in
	changed.VirtualServices = nil
	if v := version(t, &changed, pod); v == v1 {
		t.Errorf("removing the VirtualService kept version %s", v)
	}
}

func version(t *testing.T, in *Input, pod *registry.Pod) string {
	t.Helper()
	res, err := Generate(in, pod)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := NewSnapshot(res)
	if err != nil {
		t.Fatal(err)
	}
	return snap.GetVersion(resource.ListenerType)
}

// TestTransparentMode: without an outbound address, virtualOutbound is
// 0.0.0.0:15001 and has no explicit-proxy listener filter.
func TestTransparentMode(t *testing.T) {
	in, pod, _ := loadCase(t, "testdata/bookinfo")
	p := *pod
	p.OutboundAddress = ""
	res, err := Generate(in, &p)
	if err != nil {
		t.Fatal(err)
	}
	l := find[*listener.Listener](t, res[resource.ListenerType], VirtualOutboundListener)
	sa := l.GetAddress().GetSocketAddress()
	if sa.GetAddress() != "0.0.0.0" || sa.GetPortValue() != 15001 || len(l.ListenerFilters) != 0 {
		t.Errorf("virtualOutbound = %v", l)
	}
	if err := validateDeep(l); err != nil {
		t.Error(err)
	}
}

func TestGenerateErrors(t *testing.T) {
	in, pod, _ := loadCase(t, "testdata/bookinfo")
	if _, err := Generate(nil, pod); err == nil {
		t.Error("nil input: no error")
	}
	if _, err := Generate(in, nil); err == nil {
		t.Error("nil pod: no error")
	}
	for _, tc := range []struct {
		name   string
		modify func(*registry.Pod)
	}{
		{"outbound", func(p *registry.Pod) { p.OutboundAddress = "127.0.0.1" }},
		{"inbound", func(p *registry.Pod) { p.Ports[0].InboundAddress = "localhost:http" }},
		{"app", func(p *registry.Pod) { p.Ports[0].AppAddress = "127.0.0.1:99999" }},
	} {
		p := *pod
		p.Ports = slices.Clone(pod.Ports)
		tc.modify(&p)
		if _, err := Generate(in, &p); err == nil {
			t.Errorf("bad %s address: no error", tc.name)
		}
	}
}
