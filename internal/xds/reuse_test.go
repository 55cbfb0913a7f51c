package xds_test

import (
	"maps"
	"testing"

	"github.com/halyard-mesh/halyard/internal/bench/cpsim"
	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/registry"
	"github.com/halyard-mesh/halyard/internal/xds"
)

// TestReuseUnroutedMatchesAFullBuild: after a change to VirtualServices
// only, a builder that reuses the previous build's clusters, endpoints
// and pod resources gives every proxy exactly the config a full build
// gives, and shares the untouched sets with the previous build.
func TestReuseUnroutedMatchesAFullBuild(t *testing.T) {
	spec := cpsim.Spec{Services: 20, Versions: 2}
	pods := cpsim.Pods(spec)
	input := func(snap *config.Snapshot) *xds.Input {
		model, _ := registry.Build(snap, pods, "")
		return &xds.Input{Model: model, VirtualServices: snap.VirtualServices, DestinationRules: snap.DestinationRules,
			Mesh: snap.Mesh, RootNamespace: "istio-system"}
	}
	buildAll := func(b *xds.Builder, in *xds.Input) map[string]*xds.ProxyConfig {
		out := map[string]*xds.ProxyConfig{}
		for i := range in.Model.Pods {
			pod := &in.Model.Pods[i]
			cfg, err := b.Config(pod)
			if err != nil {
				t.Fatal(err)
			}
			out[pod.ProxyID] = cfg
		}
		return out
	}
	in0 := input(cpsim.Config(spec, 0))
	prev := xds.NewBuilder(in0)
	before := buildAll(prev, in0)

	in1 := input(cpsim.Config(spec, 1)) // the VirtualServices' weights flip
	full := buildAll(xds.NewBuilder(in1), in1)
	reusing := xds.NewBuilder(in1)
	reusing.ReuseUnrouted(prev, func(id string) *xds.ProxyConfig { return before[id] })
	reused := buildAll(reusing, in1)

	if len(full) != len(reused) || len(full) != spec.Proxies() {
		t.Fatalf("%d and %d configs, want %d", len(full), len(reused), spec.Proxies())
	}
	routesChanged := 0
	for id, f := range full {
		r := reused[id]
		if !maps.Equal(f.Versions(), r.Versions()) {
			t.Fatalf("%s: reusing gives versions %v, a full build %v", id, r.Versions(), f.Versions())
		}
		if f.Versions()[xdsRoute] != before[id].Versions()[xdsRoute] {
			routesChanged++
		}
		for _, typeURL := range []string{xdsCluster, xdsEndpoint} {
			if r.Types[typeURL].Shared != before[id].Types[typeURL].Shared {
				t.Errorf("%s: %s rebuilt instead of reused", id, typeURL)
			}
		}
		if r.Types[xdsListener].Own != before[id].Types[xdsListener].Own {
			t.Errorf("%s: the pod's own listeners rebuilt instead of reused", id)
		}
	}
	if routesChanged != len(full) {
		t.Errorf("routes changed for %d of %d proxies: the change did not change routes, the test proves nothing", routesChanged, len(full))
	}
}

const (
	xdsListener = "type.googleapis.com/envoy.config.listener.v3.Listener"
	xdsRoute    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	xdsCluster  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	xdsEndpoint = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
)
