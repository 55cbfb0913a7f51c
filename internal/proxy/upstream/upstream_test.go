package upstream

import (
	"io"
	"log/slog"
	"testing"
)

func testManager() *Manager { return NewManager(slog.New(slog.NewTextHandler(io.Discard, nil))) }

func TestRoundRobinAndReuse(t *testing.T) {
	m := testManager()
	if err := m.UpdateClusters([]Config{{Name: "c", Type: EDS, EDSServiceName: "c"}}); err != nil {
		t.Fatal(err)
	}
	c := m.Get("c")
	if c.Pick(nil) != nil {
		t.Fatal("EDS cluster without assignment must have no hosts")
	}
	m.UpdateEndpoints(map[string][]EndpointConfig{"c": {{Address: "a:1", Weight: 1}, {Address: "b:1", Weight: 1}, {Address: "c:1", Weight: 1}}})
	counts := map[string]int{}
	for range 300 {
		counts[c.Pick(nil).Address]++
	}
	for _, a := range []string{"a:1", "b:1", "c:1"} {
		if counts[a] != 100 {
			t.Errorf("round robin: %v", counts)
		}
	}
	tr, a := c.Transport(), c.Hosts()[0]
	// A CDS update keeps the cluster object, its pool and its hosts.
	if err := m.UpdateClusters([]Config{{Name: "c", Type: EDS, EDSServiceName: "c"}, {Name: "d", Type: Static, Endpoints: []EndpointConfig{{Address: "d:1", Weight: 1}}}}); err != nil {
		t.Fatal(err)
	}
	if m.Get("c") != c || c.Transport() != tr || c.Hosts()[0] != a {
		t.Error("cluster state not kept across CDS update")
	}
	if h := m.Get("d").Pick(nil); h == nil || h.Address != "d:1" {
		t.Errorf("static cluster: %v", h)
	}
	// A protocol change replaces the pool.
	if err := m.UpdateClusters([]Config{{Name: "c", Type: EDS, EDSServiceName: "c", Protocol: H2C}}); err != nil {
		t.Fatal(err)
	}
	if c.Transport() == tr || !c.Transport().Protocols.UnencryptedHTTP2() {
		t.Error("h2c transport not installed")
	}
	if m.Get("d") != nil {
		t.Error("removed cluster still present")
	}
	m.UpdateEndpoints(map[string][]EndpointConfig{"c": {}})
	if c.Pick(nil) != nil {
		t.Error("empty assignment must leave no hosts")
	}
}

func TestWeightedRoundRobin(t *testing.T) {
	hosts := []*Host{{Address: "a", Weight: 3}, {Address: "b", Weight: 1}}
	p := newRoundRobin(hosts, nil)
	counts := map[string]int{}
	for range 400 {
		counts[p.Pick(nil).Address]++
	}
	if counts["a"] != 300 || counts["b"] != 100 {
		t.Errorf("weighted: %v", counts)
	}
}

func TestPoliciesRegistered(t *testing.T) {
	hosts := []*Host{{Address: "a", Weight: 1}, {Address: "b", Weight: 1}}
	for _, p := range []Policy{RoundRobin, LeastRequest, Random, RingHash, Maglev} {
		b, ok := builders[p]
		if !ok {
			t.Fatalf("%v not registered", p)
		}
		if b(hosts, nil).Pick(nil) == nil {
			t.Errorf("%v picked nothing", p)
		}
	}
}
