package xds

import (
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	meshconfig "istio.io/api/mesh/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// TestScope: each proxy is configured for the services exported to its
// namespace and, under a Sidecar with egress hosts, only those the hosts
// name plus the destinations of the VirtualServices they name. Pods of one
// namespace under different Sidecars get different shared classes.
func TestScope(t *testing.T) {
	snap := loadConfig(t, "testdata/scope.yaml")
	pod := func(ns, app string) registry.Pod {
		return registry.Pod{Name: app + "-0", Namespace: ns, Labels: map[string]string{"app": app}, ProxyID: ns + "/" + app,
			OutboundAddress: "127.0.0.1:15001", Ready: true, Ports: []registry.PodPort{{ContainerPort: 80, AppAddress: "127.0.0.1:8080"}}}
	}
	pods := []registry.Pod{pod("shop", "web"), pod("billing", "pay"), pod("ops", "probe"), pod("ops", "metrics")}
	model, warnings := registry.Build(snap, pods, "")
	if len(warnings) > 0 {
		t.Fatal(warnings)
	}
	in := &Input{Model: model, VirtualServices: snap.VirtualServices, DestinationRules: snap.DestinationRules, Sidecars: snap.Sidecars}
	b := NewBuilder(in)
	all := []string{"api.partner.com", "bank.example.com", "cart.shop", "ledger.billing", "metrics.ops", "pay.billing", "web.shop"}
	want := map[string][]string{
		// ./* and billing's ledger; metrics through cart's VirtualService;
		// not pay (exported to billing only).
		"web-0": {"cart.shop", "ledger.billing", "metrics.ops", "web.shop"},
		// No Sidecar: everything exported to billing.
		"pay-0": all,
		// Its own Sidecar: the partner's host only.
		"probe-0": {"api.partner.com"},
		// ops' other pods have no Sidecar: all but billing's own.
		"metrics-0": {"api.partner.com", "cart.shop", "ledger.billing", "metrics.ops", "web.shop"},
	}
	for i := range model.Pods {
		p := &model.Pods[i]
		s, err := b.Snapshot(p)
		if err != nil {
			t.Fatal(err)
		}
		got := outboundHosts(s)
		if !slices.Equal(got, want[p.Name]) {
			t.Errorf("%s/%s: clusters for %q, want %q", p.Namespace, p.Name, got, want[p.Name])
		}
		// Routes follow: a virtual host for each HTTP service in scope.
		var vhosts []string
		for _, r := range s.GetResources(resource.RouteType) {
			for _, vh := range r.(*route.RouteConfiguration).GetVirtualHosts() {
				vhosts = append(vhosts, strings.TrimSuffix(strings.Split(vh.GetName(), ":")[0], ".svc.cluster.local"))
			}
		}
		for _, h := range want[p.Name] {
			if strings.Contains(h, ".com") {
				continue // TLS ports: no route
			}
			if !slices.Contains(vhosts, h) {
				t.Errorf("%s: no virtual host for %s (has %q)", p.Name, h, vhosts)
			}
		}
		if len(vhosts) != len(want[p.Name])-strings.Count(strings.Join(want[p.Name], " "), ".com") {
			t.Errorf("%s: virtual hosts %q, want those of %q", p.Name, vhosts, want[p.Name])
		}
	}
}

// outboundHosts lists, sorted, the hosts a snapshot has outbound clusters
// for, without the cluster domain's suffix.
func outboundHosts(s *cachev3.Snapshot) []string {
	var out []string
	for name := range s.GetResources(resource.ClusterType) {
		parts := strings.Split(name, "|")
		if h := strings.TrimSuffix(parts[len(parts)-1], ".svc.cluster.local"); parts[0] == "outbound" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return out
}

// TestScopeAfterVirtualServiceChange: under a Sidecar with egress hosts a
// change to VirtualServices alone can bring a service into scope, so a
// builder told to reuse the previous clusters builds them anew.
func TestScopeAfterVirtualServiceChange(t *testing.T) {
	snap := loadConfig(t, "testdata/scope.yaml")
	pods := []registry.Pod{{Name: "web-0", Namespace: "shop", Labels: map[string]string{"app": "web"}, ProxyID: "web",
		OutboundAddress: "127.0.0.1:15001", Ready: true}}
	model, _ := registry.Build(snap, pods, "")
	in := func(vss []config.VirtualService) *Input {
		return &Input{Model: model, VirtualServices: vss, Sidecars: snap.Sidecars}
	}
	// Without cart's VirtualService, ops' metrics is out of shop's scope.
	var others []config.VirtualService
	for _, vs := range snap.VirtualServices {
		if vs.Name != "cart" {
			others = append(others, vs)
		}
	}
	prev := NewBuilder(in(others))
	before, err := prev.Config(&model.Pods[0])
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(in(snap.VirtualServices))
	b.ReuseUnrouted(prev, func(string) *ProxyConfig { return before })
	s, err := b.Snapshot(&model.Pods[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.GetResources(resource.ClusterType)["outbound|80||metrics.ops.svc.cluster.local"]; !ok {
		t.Error("metrics.ops is routed to by the new VirtualService but has no cluster")
	}
	if _, ok := before.Snapshot().GetResources(resource.ClusterType)["outbound|80||metrics.ops.svc.cluster.local"]; ok {
		t.Error("metrics.ops already had a cluster before the change: the test proves nothing")
	}
}

// TestScopeMeshDefaults: the mesh config's default exportTo applies to
// the objects that set none.
func TestScopeMeshDefaults(t *testing.T) {
	snap := loadConfig(t, "testdata/scope.yaml")
	pods := []registry.Pod{
		{Name: "pay-0", Namespace: "billing", Labels: map[string]string{"app": "pay"}, ProxyID: "pay", OutboundAddress: "127.0.0.1:15001"},
		{Name: "metrics-0", Namespace: "ops", Labels: map[string]string{"app": "metrics"}, ProxyID: "metrics", OutboundAddress: "127.0.0.1:15001"},
	}
	model, _ := registry.Build(snap, pods, "")
	mesh := &meshconfig.MeshConfig{DefaultServiceExportTo: []string{"."}, DefaultVirtualServiceExportTo: []string{"."}}
	b := NewBuilder(&Input{Model: model, VirtualServices: snap.VirtualServices, Sidecars: snap.Sidecars, Mesh: mesh})
	want := map[string][]string{
		"pay-0":     {"bank.example.com", "ledger.billing", "pay.billing"},
		"metrics-0": {"api.partner.com", "metrics.ops"},
	}
	for i := range model.Pods {
		p := &model.Pods[i]
		s, err := b.Snapshot(p)
		if err != nil {
			t.Fatal(err)
		}
		got := outboundHosts(s)
		if !slices.Equal(got, want[p.Name]) {
			t.Errorf("%s: clusters for %q, want %q", p.Name, got, want[p.Name])
		}
	}
	// ops' VirtualService (exported to ops only by default) routes for
	// ops' proxies and not for billing's.
	g := newGenerator(&Input{Model: model, VirtualServices: snap.VirtualServices, Mesh: mesh}, &model.Pods[1], nil)
	if vs := g.virtualServiceFor("api.partner.com"); vs == nil || vs.Name != "partner" {
		t.Errorf("ops: VirtualService for api.partner.com: %v, want partner", vs)
	}
	g = newGenerator(&Input{Model: model, VirtualServices: snap.VirtualServices, Mesh: mesh}, &model.Pods[0], nil)
	if vs := g.virtualServiceFor("api.partner.com"); vs != nil {
		t.Errorf("billing: VirtualService for api.partner.com: %s, want none (exported to ops only)", vs.Name)
	}
}

// TestSidecarInboundConnectionPool: a Sidecar's inboundConnectionPool is
// the connection pool of the pods' inbound clusters, over the
// DestinationRule's.
func TestSidecarInboundConnectionPool(t *testing.T) {
	in, pod, _ := loadCase(t, "testdata/connection-pool-outlier")
	inboundMax := func() uint32 {
		res, err := Generate(in, pod)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res[resource.ClusterType] {
			if c := r.(*clusterv3.Cluster); c.GetName() == "inbound|8080||" {
				return c.GetCircuitBreakers().GetThresholds()[0].GetMaxConnections().GetValue()
			}
		}
		t.Fatal("no inbound|8080|| cluster")
		return 0
	}
	fromDR := inboundMax()
	in.Sidecars = append(in.Sidecars, config.Sidecar{Meta: config.Meta{Name: "payments", Namespace: "default"},
		Spec: &networking.Sidecar{
			WorkloadSelector:      &networking.WorkloadSelector{Labels: map[string]string{"app": "payments"}},
			InboundConnectionPool: &networking.ConnectionPoolSettings{Tcp: &networking.ConnectionPoolSettings_TCPSettings{MaxConnections: 7}},
		}})
	if got := inboundMax(); got != 7 || fromDR == 7 {
		t.Errorf("inbound max_connections %d (from the DestinationRule: %d), want the Sidecar's 7", got, fromDR)
	}
}

// TestRootSidecarDot: in the root namespace's default Sidecar, "./*" is
// each workload's own namespace, as in Istio's example of a mesh-wide
// default.
func TestRootSidecarDot(t *testing.T) {
	snap := loadConfig(t, "testdata/scope.yaml")
	var sidecars []config.Sidecar
	for _, sc := range snap.Sidecars {
		if sc.Namespace != "shop" {
			sidecars = append(sidecars, sc)
		}
	}
	sidecars = append(sidecars, config.Sidecar{Meta: config.Meta{Name: "default", Namespace: DefaultRootNamespace},
		Spec: &networking.Sidecar{Egress: []*networking.IstioEgressListener{{Hosts: []string{"./*"}}}}})
	pods := []registry.Pod{
		{Name: "web-0", Namespace: "shop", ProxyID: "web", OutboundAddress: "127.0.0.1:15001"},
		{Name: "pay-0", Namespace: "billing", ProxyID: "pay", OutboundAddress: "127.0.0.1:15001"},
	}
	model, _ := registry.Build(snap, pods, "")
	b := NewBuilder(&Input{Model: model, VirtualServices: snap.VirtualServices, Sidecars: sidecars})
	want := map[string][]string{
		"web-0": {"cart.shop", "metrics.ops", "web.shop"}, // metrics: cart's VirtualService
		"pay-0": {"bank.example.com", "ledger.billing", "pay.billing"},
	}
	for i := range model.Pods {
		p := &model.Pods[i]
		s, err := b.Snapshot(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := outboundHosts(s); !slices.Equal(got, want[p.Name]) {
			t.Errorf("%s: clusters for %q, want %q", p.Name, got, want[p.Name])
		}
	}
}
