package xds

import (
	"slices"
	"testing"

	"github.com/halyard-mesh/halyard/internal/registry"
)

func TestClusterNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{OutboundClusterName(9080, "v1", "reviews.default.svc.cluster.local"), "outbound|9080|v1|reviews.default.svc.cluster.local"},
		{OutboundClusterName(9080, "", "reviews.default.svc.cluster.local"), "outbound|9080||reviews.default.svc.cluster.local"},
		{OutboundClusterName(443, "", "*.example.com"), "outbound|443||*.example.com"},
		{InboundClusterName(9080), "inbound|9080||"},
		{InboundListenerName(9080), "inbound|9080"},
		{OutboundListenerName(9080), "0.0.0.0_9080"},
		{RouteConfigName(9080), "9080"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestResolveHost(t *testing.T) {
	for _, tc := range []struct{ host, ns, suffix, want string }{
		{"reviews", "default", "cluster.local", "reviews.default.svc.cluster.local"},
		{"reviews", "prod", "", "reviews.prod.svc.cluster.local"},
		{"reviews", "prod", "corp.example", "reviews.prod.svc.corp.example"},
		// Istio only expands names without a dot.
		{"reviews.default", "prod", "cluster.local", "reviews.default"},
		{"reviews.default.svc.cluster.local", "prod", "cluster.local", "reviews.default.svc.cluster.local"},
		{"api.example.com", "default", "cluster.local", "api.example.com"},
		{"*", "default", "cluster.local", "*"},
		{"*.example.com", "default", "cluster.local", "*.example.com"},
		{"10.0.0.1", "default", "cluster.local", "10.0.0.1"},
		{"::1", "default", "cluster.local", "::1"},
		{"", "default", "cluster.local", ""},
	} {
		if got := ResolveHost(tc.host, tc.ns, tc.suffix); got != tc.want {
			t.Errorf("ResolveHost(%q, %q, %q) = %q, want %q", tc.host, tc.ns, tc.suffix, got, tc.want)
		}
	}
}

func TestHostMatches(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"reviews.default.svc.cluster.local", "reviews.default.svc.cluster.local", true},
		{"reviews.default.svc.cluster.local", "ratings.default.svc.cluster.local", false},
		{"*.example.com", "api.example.com", true},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "api.example.org", false},
		{"*", "anything.at.all", true},
		{"*.default.svc.cluster.local", "reviews.default.svc.cluster.local", true},
		{"*.example.com", "*.api.example.com", true},
		{"*.api.example.com", "*.example.com", true},
		{"*.example.com", "*.example.org", false},
		{"api.example.com", "*.example.com", true},
	} {
		if got := HostMatches(tc.a, tc.b); got != tc.want {
			t.Errorf("HostMatches(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestHostSpecificity(t *testing.T) {
	host := "api.eu.example.com"
	ranked := []string{host, "*.eu.example.com", "*.example.com", "*"}
	for i := 1; i < len(ranked); i++ {
		if a, b := hostSpecificity(ranked[i-1], host), hostSpecificity(ranked[i], host); a <= b {
			t.Errorf("%q (%d) should beat %q (%d)", ranked[i-1], a, ranked[i], b)
		}
	}
	if s := hostSpecificity("*.example.org", host); s >= 0 {
		t.Errorf("non-matching wildcard scored %d", s)
	}
	if s := hostSpecificity("other.example.com", host); s >= 0 {
		t.Errorf("different host scored %d", s)
	}
}

func TestDomains(t *testing.T) {
	kube := &registry.Service{Hostname: "reviews.default.svc.cluster.local", Name: "reviews", Namespace: "default", Selector: map[string]string{"app": "reviews"}, Kubernetes: true}
	se := &registry.Service{Hostname: "api.example.com", Name: "api.example.com", Namespace: "default"}
	for _, tc := range []struct {
		name  string
		svc   *registry.Service
		proxy string
		want  []string
	}{
		{"same namespace", kube, "default", []string{
			"reviews.default.svc.cluster.local", "reviews.default.svc", "reviews.default", "reviews",
		}},
		{"other namespace", kube, "prod", []string{
			"reviews.default.svc.cluster.local", "reviews.default.svc", "reviews.default",
		}},
		{"service entry", se, "default", []string{"api.example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Domains(tc.svc, 9080, tc.proxy, "cluster.local"); !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestExportedTo(t *testing.T) {
	for _, tc := range []struct {
		exportTo  []string
		ns, proxy string
		want      bool
	}{
		{nil, "a", "b", true},
		{[]string{"*"}, "a", "b", true},
		{[]string{"."}, "a", "a", true},
		{[]string{"."}, "a", "b", false},
		{[]string{"b"}, "a", "b", true},
		{[]string{"c"}, "a", "b", false},
		{[]string{"~"}, "a", "a", false},
	} {
		if got := exportedTo(tc.exportTo, tc.ns, tc.proxy); got != tc.want {
			t.Errorf("exportedTo(%q, %q, %q) = %v, want %v", tc.exportTo, tc.ns, tc.proxy, got, tc.want)
		}
	}
}
