package cpsim

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/halyard-mesh/halyard/internal/registry"
	"github.com/halyard-mesh/halyard/internal/xds"
)

// TestSyntheticMesh translates the synthetic mesh with Halyard's own
// registry and xDS generator: every service has its subsets, endpoints
// and weighted route, and a new generation flips svc-0000's weights.
func TestSyntheticMesh(t *testing.T) {
	s := Spec{Services: 5, Versions: 2}
	pods := Pods(s)
	if len(pods) != 10 || len(ProxyIDs(s)) != 10 || pods[3].ProxyID != ProxyIDs(s)[3] {
		t.Fatalf("%d pods, ids %v", len(pods), ProxyIDs(s))
	}
	gen := func(generation int) map[string]*route.WeightedCluster {
		cfg := Config(s, generation)
		model, warnings := registry.Build(cfg, pods, "")
		if len(warnings) > 0 {
			t.Fatal(warnings)
		}
		if eps := model.Endpoints("svc-0003.default.svc.cluster.local", 8080); len(eps) != 2 {
			t.Fatalf("svc-0003 endpoints: %v", eps)
		}
		res, err := xds.Generate(&xds.Input{Model: model, VirtualServices: cfg.VirtualServices, DestinationRules: cfg.DestinationRules}, &model.Pods[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := xds.NewSnapshot(res); err != nil {
			t.Fatal(err)
		}
		if n := len(res[resource.ClusterType]); n < 15 {
			t.Errorf("%d clusters, want at least 5 services x (1 + 2 subsets)", n)
		}
		splits := map[string]*route.WeightedCluster{}
		for _, r := range res[resource.RouteType] {
			for _, vh := range r.(*route.RouteConfiguration).VirtualHosts {
				splits[vh.Name] = vh.Routes[0].GetRoute().GetWeightedClusters()
			}
		}
		return splits
	}
	g0, g1 := gen(0), gen(1)
	w := func(s map[string]*route.WeightedCluster, host string) [2]uint32 {
		c := s[host+".default.svc.cluster.local:8080"].GetClusters()
		if len(c) != 2 {
			t.Fatalf("%s: %v", host, c)
		}
		return [2]uint32{c[0].Weight.GetValue(), c[1].Weight.GetValue()}
	}
	if w(g0, "svc-0000") != [2]uint32{90, 10} || w(g1, "svc-0000") != [2]uint32{10, 90} || w(g1, "svc-0004") != [2]uint32{90, 10} {
		t.Errorf("weights: gen0 %v, gen1 %v / %v", w(g0, "svc-0000"), w(g1, "svc-0000"), w(g1, "svc-0004"))
	}
}

func TestSplitWeights(t *testing.T) {
	for _, tc := range []struct {
		n    int
		flip bool
		sum  int32
	}{{2, false, 100}, {3, true, 100}, {12, false, 100}} {
		var sum int32
		for _, w := range splitWeights(tc.n, tc.flip) {
			sum += w
		}
		if sum != tc.sum {
			t.Errorf("splitWeights(%d) sums to %d", tc.n, sum)
		}
	}
}

// TestServe drives Serve through its pipe protocol.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, Spec{Services: 3, Versions: 2}, inR, outW, slog.New(slog.DiscardHandler)) }()
	lines := bufio.NewScanner(outR)
	var hello Hello
	if !lines.Scan() || json.Unmarshal(lines.Bytes(), &hello) != nil || hello.XDS == "" || hello.Admin == "" {
		t.Fatalf("hello: %q", lines.Text())
	}
	for _, cmd := range []string{CommandPods, CommandChange, "bogus"} {
		io.WriteString(inW, cmd+"\n")
		var r Reply
		if !lines.Scan() || json.Unmarshal(lines.Bytes(), &r) != nil || r.Command != cmd {
			t.Fatalf("reply to %s: %q", cmd, lines.Text())
		}
		if (r.Error != "") != (cmd == "bogus") {
			t.Errorf("reply to %s: %+v", cmd, r)
		}
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
