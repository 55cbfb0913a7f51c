package router

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

func req(method, target string, hdr ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "host") {
			r.Host = hdr[i+1]
			continue
		}
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func mustTable(t testing.TB, vhs ...VirtualHostConfig) *Table {
	t.Helper()
	tb, err := NewTable("test", vhs)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func route(name string, m Match) RouteConfig {
	return RouteConfig{Name: name, Match: m, Action: Action{Cluster: "c-" + name}}
}

func TestRouteMatching(t *testing.T) {
	routes := []RouteConfig{
		route("exact", Match{PathKind: PathExact, Path: "/exact"}),
		route("nocase", Match{PathKind: PathPrefix, Path: "/NoCase", CaseInsensitive: true}),
		route("regex", Match{PathKind: PathRegex, Path: `/items/[0-9]+`}),
		route("hdr-exact", Match{PathKind: PathPrefix, Path: "/h", Headers: []HeaderMatch{{Name: "end-user", String: StringMatch{Kind: Exact, Value: "jason"}}}}),
		route("hdr-prefix", Match{PathKind: PathPrefix, Path: "/h", Headers: []HeaderMatch{{Name: "x-ver", String: StringMatch{Kind: Prefix, Value: "v2"}}}}),
		route("hdr-regex", Match{PathKind: PathPrefix, Path: "/h", Headers: []HeaderMatch{{Name: "x-id", String: StringMatch{Kind: Regex, Value: `[a-f]{3}`}}}}),
		route("hdr-present", Match{PathKind: PathPrefix, Path: "/h", Headers: []HeaderMatch{{Name: "x-debug", Present: ptr(true)}}}),
		route("hdr-invert", Match{PathKind: PathPrefix, Path: "/inv", Headers: []HeaderMatch{{Name: "x-canary", String: StringMatch{Kind: Exact, Value: "yes"}, Invert: true}}}),
		route("method", Match{PathKind: PathPrefix, Path: "/m", Headers: []HeaderMatch{{Name: ":method", String: StringMatch{Kind: Exact, Value: "POST"}}}}),
		route("authority", Match{PathKind: PathPrefix, Path: "/m", Headers: []HeaderMatch{{Name: ":authority", String: StringMatch{Kind: Suffix, Value: ":9080"}}}}),
		route("query", Match{PathKind: PathPrefix, Path: "/q", Query: []QueryMatch{{Name: "v", String: StringMatch{Kind: Exact, Value: "2"}}}}),
		route("query-present", Match{PathKind: PathPrefix, Path: "/q", Query: []QueryMatch{{Name: "debug", Present: true}}}),
		route("sep", Match{PathKind: PathSeparatedPrefix, Path: "/api"}),
		route("first", Match{PathKind: PathPrefix, Path: "/dup"}),
		route("second", Match{PathKind: PathPrefix, Path: "/dup"}),
		route("ignorecase-hdr", Match{PathKind: PathPrefix, Path: "/ic", Headers: []HeaderMatch{{Name: "x-a", String: StringMatch{Kind: Contains, Value: "MiD", IgnoreCase: true}}}}),
		route("catchall", Match{PathKind: PathPrefix, Path: "/"}),
	}
	tb := mustTable(t, VirtualHostConfig{Name: "vh", Domains: []string{"*"}, Routes: routes})
	tests := []struct {
		name string
		r    *http.Request
		want string
	}{
		{"exact", req("GET", "/exact"), "exact"},
		{"exact ignores query", req("GET", "/exact?a=b"), "exact"},
		{"exact no prefix", req("GET", "/exact/more"), "catchall"},
		{"case-insensitive prefix", req("GET", "/nocase/x"), "nocase"},
		{"regex full match", req("GET", "/items/42"), "regex"},
		{"regex partial is no match", req("GET", "/items/42x"), "catchall"},
		{"header exact", req("GET", "/h", "end-user", "jason"), "hdr-exact"},
		{"header exact other value", req("GET", "/h", "end-user", "bob"), "catchall"},
		{"header prefix", req("GET", "/h", "x-ver", "v2.1"), "hdr-prefix"},
		{"header regex", req("GET", "/h", "x-id", "abc"), "hdr-regex"},
		{"header regex no match", req("GET", "/h", "x-id", "abcd"), "catchall"},
		{"header present", req("GET", "/h", "x-debug", ""), "hdr-present"},
		{"invert: absent header matches", req("GET", "/inv"), "hdr-invert"},
		{"invert: other value matches", req("GET", "/inv", "x-canary", "no"), "hdr-invert"},
		{"invert: value excluded", req("GET", "/inv", "x-canary", "yes"), "catchall"},
		{"method", req("POST", "/m"), "method"},
		{"authority", req("GET", "/m", "host", "reviews:9080"), "authority"},
		{"neither method nor authority", req("GET", "/m", "host", "reviews"), "catchall"},
		{"query exact", req("GET", "/q?a=1&v=2"), "query"},
		{"query encoded", req("GET", "/q?v=%32"), "query"},
		{"query present", req("GET", "/q?debug"), "query-present"},
		{"query mismatch", req("GET", "/q?v=3"), "catchall"},
		{"path separated prefix exact", req("GET", "/api"), "sep"},
		{"path separated prefix child", req("GET", "/api/x"), "sep"},
		{"path separated prefix sibling", req("GET", "/apix"), "catchall"},
		{"first match wins", req("GET", "/dup"), "first"},
		{"header contains ignore case", req("GET", "/ic", "x-a", "aamidbb"), "ignorecase-hdr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rt := tb.Match(tt.r)
			if rt == nil {
				t.Fatalf("no route, want %s", tt.want)
			}
			if rt.Name != tt.want {
				t.Errorf("route %s, want %s", rt.Name, tt.want)
			}
		})
	}
}

func TestFirstMatchAcrossIndexes(t *testing.T) {
	// A generic (regex) route before an indexed exact route must win.
	tb := mustTable(t, VirtualHostConfig{Name: "vh", Domains: []string{"*"}, Routes: []RouteConfig{
		route("prefix-hdr", Match{PathKind: PathPrefix, Path: "/a", Headers: []HeaderMatch{{Name: "x", Present: ptr(true)}}}),
		route("regex", Match{PathKind: PathRegex, Path: "/a/.*"}),
		route("exact", Match{PathKind: PathExact, Path: "/a/b"}),
		route("prefix", Match{PathKind: PathPrefix, Path: "/a/"}),
	}})
	for _, tc := range []struct {
		r    *http.Request
		want string
	}{
		{req("GET", "/a/b"), "regex"},
		{req("GET", "/a/b", "x", "1"), "prefix-hdr"},
	} {
		if _, rt := tb.Match(tc.r); rt == nil || rt.Name != tc.want {
			t.Errorf("%s: got %v, want %s", tc.r.URL, rt, tc.want)
		}
	}
	_, rt := tb.Match(req("GET", "/zzz"))
	if rt != nil {
		t.Errorf("/zzz matched %s, want no route", rt.Name)
	}
}

func TestDomainRules(t *testing.T) {
	mk := func(name string, domains ...string) VirtualHostConfig {
		return VirtualHostConfig{Name: name, Domains: domains, Routes: []RouteConfig{route(name, Match{Path: "/"})}}
	}
	tb := mustTable(t,
		mk("reviews", "reviews.default.svc.cluster.local", "reviews", "reviews:9080", "reviews.default.svc.cluster.local:9080"),
		mk("suffix-long", "*.bar.foo.com"),
		mk("suffix", "*.foo.com"),
		mk("prefix", "foo.*"),
		mk("prefix-long", "foo.bar.*"),
	)
	tests := map[string]string{
		"reviews":                                "reviews",
		"REVIEWS:9080":                           "reviews",
		"Reviews.Default.Svc.Cluster.Local":      "reviews",
		"reviews.default.svc.cluster.local:1234": "reviews", // port stripped on second try
		"x.bar.foo.com":                          "suffix-long",
		"x.foo.com":                              "suffix",
		"foo.com":                                "prefix", // not *.foo.com: the wildcard needs a label
		"foo.bar.baz":                            "prefix-long",
		"foo.x":                                  "prefix",
		"ratings":                                "",
	}
	for host, want := range tests {
		vh := tb.VirtualHostFor(host)
		got := ""
		if vh != nil {
			got = vh.Name
		}
		if got != want {
			t.Errorf("host %q: vhost %q, want %q", host, got, want)
		}
	}
	withAny := mustTable(t, mk("exact", "a.com"), mk("any", "*"))
	for host, want := range map[string]string{"b.com": "any", "a.com:8080": "exact", "b.com:8080": "any"} {
		if vh := withAny.VirtualHostFor(host); vh == nil || vh.Name != want {
			t.Errorf("%s: got %v, want the %q virtual host (the host without its port before *)", host, vh, want)
		}
	}
	// ignore_port_in_host_matching: the port goes before any matching.
	ignore, err := NewTableConfig(TableConfig{Name: "t", IgnorePortInHostMatching: true,
		VirtualHosts: []VirtualHostConfig{mk("reviews", "reviews"), mk("with-port", "ratings:9080"), mk("any", "*")}})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{"reviews:9080": "reviews", "reviews": "reviews", "ratings:9080": "any", "details:1": "any"} {
		if vh := ignore.VirtualHostFor(host); vh == nil || vh.Name != want {
			t.Errorf("ignoring ports, %s: got %v, want the %q virtual host", host, vh, want)
		}
	}
}

func TestTableErrors(t *testing.T) {
	tests := []struct {
		name string
		vhs  []VirtualHostConfig
		want string
	}{
		{"bad regex", []VirtualHostConfig{{Name: "v", Domains: []string{"a"}, Routes: []RouteConfig{route("r", Match{PathKind: PathRegex, Path: "([a-z"})}}}, `virtual host "v": route r: invalid regex "([a-z"`},
		{"bad header regex", []VirtualHostConfig{{Name: "v", Domains: []string{"a"}, Routes: []RouteConfig{route("r", Match{Path: "/", Headers: []HeaderMatch{{Name: "x", String: StringMatch{Kind: Regex, Value: "*"}}}})}}}, `header "x": invalid regex`},
		{"duplicate domain", []VirtualHostConfig{{Name: "a", Domains: []string{"x"}}, {Name: "b", Domains: []string{"X"}}}, `domain "x" is already used`},
		{"no cluster", []VirtualHostConfig{{Name: "v", Domains: []string{"a"}, Routes: []RouteConfig{{Name: "r", Match: Match{Path: "/"}}}}}, "route has no cluster"},
		{"zero weights", []VirtualHostConfig{{Name: "v", Domains: []string{"a"}, Routes: []RouteConfig{{Name: "r", Match: Match{Path: "/"}, Action: Action{Weighted: []WeightedCluster{{Name: "a"}}}}}}}, "total weight of 0"},
		{"wildcard in middle", []VirtualHostConfig{{Name: "v", Domains: []string{"a.*.b"}}}, "wildcard must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewTable("t", tt.vhs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestWeightedPickDistribution(t *testing.T) {
	tb := mustTable(t, VirtualHostConfig{Name: "v", Domains: []string{"*"}, Routes: []RouteConfig{{
		Name: "w", Match: Match{Path: "/"},
		Action: Action{Weighted: []WeightedCluster{{Name: "v1", Weight: 95}, {Name: "v2", Weight: 5}}},
	}}})
	_, rt := tb.Match(req("GET", "/"))
	const n = 20000
	counts := map[string]int{}
	for range n {
		counts[rt.PickCluster()]++
	}
	// 5% of 20000 = 1000, sd ≈ 31; allow ±0.9 percentage points (≈ 5.8 sd).
	got := float64(counts["v2"]) / n * 100
	if math.Abs(got-5) > 0.9 {
		t.Errorf("v2 got %.2f%% of %d picks, want 5%% ± 0.9", got, n)
	}
	if counts["v1"]+counts["v2"] != n {
		t.Errorf("unexpected clusters: %v", counts)
	}
	// Deterministic boundaries.
	if rt.PickWeighted(94) != "v1" || rt.PickWeighted(95) != "v2" || rt.PickWeighted(99) != "v2" {
		t.Error("PickWeighted boundaries wrong")
	}
}

func thousandRoutes(tb testing.TB) *Table {
	routes := make([]RouteConfig, 0, 1000)
	for i := range 1000 {
		m := Match{PathKind: PathPrefix, Path: fmt.Sprintf("/api/v%d/", i)}
		if i%2 == 1 {
			m = Match{PathKind: PathExact, Path: fmt.Sprintf("/svc/%d/items", i)}
		}
		m.Headers = []HeaderMatch{{Name: "x-tenant", String: StringMatch{Kind: Exact, Value: fmt.Sprintf("t%d", i)}}}
		routes = append(routes, RouteConfig{Name: fmt.Sprint("r", i), Match: m, Action: Action{Cluster: fmt.Sprint("c", i)}})
	}
	return mustTable(tb, VirtualHostConfig{Name: "reviews", Domains: []string{"reviews", "reviews:9080"}, Routes: routes})
}

func TestThousandRoutesLast(t *testing.T) {
	tb := thousandRoutes(t)
	r := req("GET", "/svc/999/items?x=1", "host", "reviews:9080", "x-tenant", "t999")
	if _, rt := tb.Match(r); rt == nil || rt.Name != "r999" {
		t.Fatalf("got %v, want r999", rt)
	}
	allocs := testing.AllocsPerRun(100, func() { tb.Match(r) })
	if allocs != 0 {
		t.Errorf("Match allocates %.1f times, want 0", allocs)
	}
}

// BenchmarkRouteMatch1000 matches the last of 1000 routes (each with a path
// and a header matcher).
func BenchmarkRouteMatch1000(b *testing.B) {
	tb := thousandRoutes(b)
	r := req("GET", "/svc/999/items?x=1", "host", "reviews:9080", "x-tenant", "t999")
	b.ReportAllocs()
	for b.Loop() {
		if _, rt := tb.Match(r); rt == nil {
			b.Fatal("no match")
		}
	}
}

// BenchmarkRouteMatch1000Regex is the worst case: 1000 regex routes, which
// cannot be indexed, matching the last.
func BenchmarkRouteMatch1000Regex(b *testing.B) {
	routes := make([]RouteConfig, 0, 1000)
	for i := range 1000 {
		routes = append(routes, RouteConfig{Name: fmt.Sprint("r", i),
			Match: Match{PathKind: PathRegex, Path: fmt.Sprintf("/r%d/[a-z]+", i)}, Action: Action{Cluster: "c"}})
	}
	tb := mustTable(b, VirtualHostConfig{Name: "v", Domains: []string{"*"}, Routes: routes})
	r := req("GET", "/r999/abc")
	b.ReportAllocs()
	for b.Loop() {
		if _, rt := tb.Match(r); rt == nil {
			b.Fatal("no match")
		}
	}
}
