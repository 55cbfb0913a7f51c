package compile

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"sigs.k8s.io/yaml"

	"github.com/halyard-mesh/halyard/internal/proxy/filter"
	"github.com/halyard-mesh/halyard/internal/proxy/filter/cors"
	"github.com/halyard-mesh/halyard/internal/proxy/filter/fault"
	"github.com/halyard-mesh/halyard/internal/proxy/router"
	x "github.com/halyard-mesh/halyard/internal/proxy/xdstest"
)

// goldenDir holds the control plane's golden xDS output: exactly what the
// proxy receives.
const goldenDir = "../../xds/testdata"

func loadGolden[T proto.Message](t *testing.T, path string, newT func() T) []T {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(j, &raw); err != nil {
		t.Fatal(err)
	}
	out := make([]T, 0, len(raw))
	for _, r := range raw {
		m := newT()
		if err := protojson.Unmarshal(r, m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, m)
	}
	return out
}

func goldenRoutes(t *testing.T, dir string) map[string]*router.Table {
	t.Helper()
	rcs := loadGolden(t, filepath.Join(goldenDir, dir, "routes.golden.yaml"), func() *routev3.RouteConfiguration { return &routev3.RouteConfiguration{} })
	tables, err := Routes(rcs)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return tables
}

// TestGoldenRoutesCompile compiles every route configuration and every
// HTTP listener the control plane's golden tests produce.
func TestGoldenRoutesCompile(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(goldenDir, "*", "routes.golden.yaml"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range dirs {
		dir := filepath.Base(filepath.Dir(f))
		goldenRoutes(t, dir)
		ls := loadGolden(t, filepath.Join(goldenDir, dir, "listeners.golden.yaml"), func() *listenerv3.Listener { return &listenerv3.Listener{} })
		var http []*listenerv3.Listener
		for _, l := range ls {
			if b, _ := protojson.Marshal(l); strings.Contains(string(b), "HttpConnectionManager") {
				http = append(http, l)
			}
		}
		cfgs, _, err := Listeners(http)
		if err != nil {
			t.Fatalf("%s: listeners: %v", dir, err)
		}
		for _, c := range cfgs {
			if c.HTTP != nil && c.HTTP.Routes == nil && len(c.HTTP.Filters) != 2 {
				t.Errorf("%s: %s: %d http filters before the router, want fault and cors", dir, c.Name, len(c.HTTP.Filters))
			}
		}
	}
}

func route(t *testing.T, tables map[string]*router.Table, table, host, path string) *router.Route {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	r.Host = host
	_, rt := tables[table].Match(r)
	if rt == nil {
		t.Fatalf("no route for %s%s in %s", host, path, table)
	}
	return rt
}

func TestGoldenRoutePolicy(t *testing.T) {
	faultSlot := filter.Lookup(fault.Name, "").Slot()
	corsSlot := filter.Lookup(cors.Name, "").Slot()

	t.Run("timeouts and retries", func(t *testing.T) {
		tb := goldenRoutes(t, "timeouts-retries")
		rt := route(t, tb, "9080", "reviews", "/slow")
		rp := rt.Retry()
		if rt.Action.Timeout != 2500*time.Millisecond || !rt.Action.HasMaxGRPCTimeout || rt.Action.MaxGRPCTimeout != 2500*time.Millisecond {
			t.Errorf("/slow timeouts: %+v", rt.Action)
		}
		if rp == nil || rp.NumRetries != 3 || rp.PerTryTimeout != time.Second || rp.BaseInterval != 50*time.Millisecond ||
			rp.MaxInterval != 500*time.Millisecond || !rp.AvoidPreviousHosts || rp.HostSelectionMaxAttempts != 5 ||
			rp.On != router.Retry5xx|router.RetryConnectFailure|router.RetryStatusCodes {
			t.Fatalf("/slow retry policy: %+v", rp)
		}
		if !rp.Retriable(504, -1, router.NoFailure) || !rp.Retriable(500, -1, router.NoFailure) || rp.Retriable(404, -1, router.NoFailure) {
			t.Error("/slow: retriable statuses")
		}
		if rt := route(t, tb, "9080", "reviews", "/once"); rt.Retry() != nil {
			t.Error("/once: attempts 0 must have no retry policy")
		}
		stay := route(t, tb, "9080", "reviews", "/stay").Retry()
		if stay.AvoidPreviousHosts || !stay.Retriable(409, -1, router.NoFailure) || !stay.Retriable(502, -1, router.NoFailure) {
			t.Errorf("/stay: %+v", stay)
		}
		def := route(t, tb, "9080", "reviews", "/").Retry()
		if def.NumRetries != 2 || !def.Retriable(503, -1, router.NoFailure) || def.Retriable(500, -1, router.NoFailure) ||
			!def.Retriable(0, -1, router.ConnectFailure) || !def.Retriable(0, -1, router.RefusedStream) || def.Retriable(0, -1, router.Reset) ||
			!def.Retriable(200, 14, router.NoFailure) || !def.Retriable(200, 1, router.NoFailure) || def.Retriable(200, 13, router.NoFailure) {
			t.Errorf("Istio's default policy: %+v", def)
		}
		grpc := route(t, tb, "9090", "ratings", "/").Retry()
		if !grpc.Retriable(200, 8, router.NoFailure) || grpc.Retriable(503, -1, router.NoFailure) {
			t.Errorf("ratings: %+v", grpc)
		}
	})

	t.Run("fault", func(t *testing.T) {
		tb := goldenRoutes(t, "fault")
		rt := route(t, tb, "9080", "ratings", "/")
		f, ok := func() (*fault.Config, bool) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Host = "ratings"
			r.Header.Set("end-user", "jason")
			_, rt := tb["9080"].Match(r)
			c, ok := rt.FilterConfig(faultSlot).(*fault.Config)
			return c, ok
		}()
		if !ok || f.Delay != 7*time.Second || f.DelayFraction != (router.Fraction{Numerator: 1000000, Denominator: 1000000}) ||
			f.HTTPStatus != 500 || f.AbortFraction != (router.Fraction{Numerator: 1000, Denominator: 1000000}) {
			t.Errorf("delay-and-abort: %+v", f)
		}
		if rt.FilterConfig(faultSlot) != nil {
			t.Error("the default route has a fault")
		}
		legacy := route(t, tb, "9080", "ratings", "/legacy").FilterConfig(faultSlot).(*fault.Config)
		if legacy.DelayFraction != (router.Fraction{Numerator: 50, Denominator: 100}) || legacy.Delay != time.Second {
			t.Errorf("legacy percent: %+v", legacy)
		}
		never := route(t, tb, "9080", "ratings", "/never").FilterConfig(faultSlot).(*fault.Config)
		if never.AbortFraction.Numerator != 0 || never.HTTPStatus != 503 {
			t.Errorf("no percentage: %+v", never)
		}
		g := route(t, tb, "9090", "grpc-echo", "/").FilterConfig(faultSlot).(*fault.Config)
		if !g.HasGRPCStatus || g.GRPCStatus != 14 || g.AbortFraction.Numerator != 333333 {
			t.Errorf("grpc abort: %+v", g)
		}
	})

	t.Run("mirror", func(t *testing.T) {
		tb := goldenRoutes(t, "mirror")
		ms := route(t, tb, "9080", "reviews", "/").Mirrors()
		if len(ms) != 2 || ms[0].Cluster != "outbound|9080|v2|reviews.default.svc.cluster.local" ||
			ms[0].Fraction != (router.Fraction{Numerator: 100, Denominator: 100}) || ms[1].Fraction.Numerator != 5000 {
			t.Errorf("mirrors: %+v", ms)
		}
		if ms := route(t, tb, "9080", "reviews", "/none").Mirrors(); len(ms) != 0 {
			t.Errorf("/none mirrors %+v", ms)
		}
	})

	t.Run("redirect rewrite direct", func(t *testing.T) {
		tb := goldenRoutes(t, "redirect-rewrite-direct")
		for path, want := range map[string]string{
			"/old":       "http://www.example.com/new",
			"/secure/x":  "https://web:8443/secure/x",
			"/here?a=b":  "http://web:8000/there?a=b",
			"/plain/doc": "http://plain.example.com/plain/doc",
		} {
			r := httptest.NewRequest("GET", path, nil)
			r.Host = "web:8000"
			_, rt := tb["8000"].Match(r)
			if rt == nil || !rt.IsRedirect() || rt.RedirectLocation(r) != want {
				t.Errorf("%s: redirect to %v, want %s", path, rt, want)
			}
		}
		if rt := route(t, tb, "8000", "web", "/v1/x"); rt.RewritePath("/v1/x?q") != "/api/v1/x?q" {
			t.Errorf("prefix rewrite: %s", rt.RewritePath("/v1/x?q"))
		}
		if rt := route(t, tb, "8000", "web", "/health"); rt.RewritePath("/health") != "/healthz" || rt.Pick().HostRewrite != "internal.web" {
			t.Errorf("exact rewrite: %s %s", rt.RewritePath("/health"), rt.Pick().HostRewrite)
		}
		if rt := route(t, tb, "8000", "web", "/users/ann/profile"); rt.RewritePath("/users/ann/profile") != "/profiles/ann" {
			t.Errorf("regex rewrite: %s", rt.RewritePath("/users/ann/profile"))
		}
		if rt := route(t, tb, "8000", "web", "/blob"); rt.Action.DirectStatus != 200 || rt.Action.DirectBody != "\x00\x01\x02\x03" {
			t.Errorf("binary direct response: %+v", rt.Action)
		}
	})

	t.Run("headers and cors", func(t *testing.T) {
		tb := goldenRoutes(t, "headers-cors")
		if _, ok := route(t, tb, "8080", "api", "/").FilterConfig(corsSlot).(*cors.Policy); !ok {
			t.Error("no CORS policy")
		}
		split := route(t, tb, "8080", "api", "/split")
		if tg := split.PickWeighted(0); tg != "outbound|8080|blue|api.default.svc.cluster.local" {
			t.Errorf("split: %s", tg)
		}
	})

	t.Run("hash policies", func(t *testing.T) {
		tb := goldenRoutes(t, "lb-hash")
		rt := route(t, tb, "8080", "cart", "/sticky")
		r := httptest.NewRequest("GET", "/sticky", nil)
		if _, ok, setCookie := rt.Hash(r); !ok || !strings.Contains(setCookie, "Max-Age=3600; Path=/") {
			t.Errorf("sticky: ok %v set-cookie %q", ok, setCookie)
		}
		top := route(t, tb, "8080", "cart", "/")
		r.Header.Set("x-user", "ann")
		h1, ok1, _ := top.Hash(r)
		r.Header.Set("x-user", "bob")
		h2, ok2, _ := top.Hash(r)
		if !ok1 || !ok2 || h1 == h2 {
			t.Errorf("header hash: %x %v %x %v", h1, ok1, h2, ok2)
		}
	})
}

func TestRouteCompileErrors(t *testing.T) {
	faultCfg := func(a *anypb.Any) *routev3.Route {
		r := x.PrefixRoute("/", "c")
		r.TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.fault": a}
		return r
	}
	for _, tc := range []struct {
		name  string
		route *routev3.Route
		want  string
	}{
		{"unknown per-filter config", faultCfg(x.Any(&routev3.Route{})), `typed_per_filter_config "envoy.filters.http.fault": unsupported filter`},
		{"optional unknown per-filter config", faultCfg(x.Any(&routev3.FilterConfig{IsOptional: true, Config: x.Any(&routev3.Route{})})), ""},
		{"disabled filter", faultCfg(x.Any(&routev3.FilterConfig{Disabled: true})), ""},
		{"bad header", func() *routev3.Route {
			r := x.PrefixRoute("/", "c")
			r.RequestHeadersToRemove = []string{":path"}
			return r
		}(), `header ":path" cannot be added or removed`},
		{"bad retry backoff", func() *routev3.Route {
			r := x.PrefixRoute("/", "c")
			r.GetRoute().RetryPolicy = &routev3.RetryPolicy{RetryBackOff: &routev3.RetryPolicy_RetryBackOff{}}
			return r
		}(), "base_interval is required"},
		{"unknown host predicate", func() *routev3.Route {
			r := x.PrefixRoute("/", "c")
			r.GetRoute().RetryPolicy = &routev3.RetryPolicy{RetryHostPredicate: []*routev3.RetryPolicy_RetryHostPredicate{{Name: "envoy.retry_host_predicates.omit_canary_hosts"}}}
			return r
		}(), "unsupported retry_host_predicate"},
		{"bad header format", func() *routev3.Route {
			r := x.PrefixRoute("/", "c")
			r.ResponseHeadersToAdd = []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-a", Value: "%NOPE%"}}}
			return r
		}(), "unsupported command %NOPE%"},
	} {
		_, err := Routes([]*routev3.RouteConfiguration{x.RouteConfig("r", x.VirtualHost("svc", "default", "80", tc.route))})
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestHTTPFilterChains(t *testing.T) {
	withFilters := func(fs ...*hcmv3.HttpFilter) *listenerv3.Listener {
		l := x.OutboundHTTP(9080, "0.0.0.0_9080")
		h := &hcmv3.HttpConnectionManager{StatPrefix: "s", HttpFilters: fs,
			RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{RouteConfigName: "9080"}}}
		l.FilterChains[0].Filters[0] = x.HCMFilter(h)
		return l
	}
	typed := func(name string, m proto.Message) *hcmv3.HttpFilter {
		return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: x.Any(m)}}
	}
	fault := typed("envoy.filters.http.fault", &faultv3.HTTPFault{})
	lua := typed("envoy.filters.http.lua", &structpb.Struct{})
	optionalLua := typed("envoy.filters.http.lua", &structpb.Struct{})
	optionalLua.IsOptional = true
	disabledFault := typed("envoy.filters.http.fault", &faultv3.HTTPFault{})
	disabledFault.Disabled = true
	for _, tc := range []struct {
		name    string
		filters []*hcmv3.HttpFilter
		n       int
		err     string
	}{
		{"fault and router", []*hcmv3.HttpFilter{fault, x.RouterFilter()}, 1, ""},
		{"unknown", []*hcmv3.HttpFilter{lua, x.RouterFilter()}, 0, `unsupported http filter "envoy.filters.http.lua"`},
		{"unknown optional", []*hcmv3.HttpFilter{optionalLua, x.RouterFilter()}, 0, ""},
		{"disabled", []*hcmv3.HttpFilter{disabledFault, x.RouterFilter()}, 0, ""},
		{"router not last", []*hcmv3.HttpFilter{x.RouterFilter(), fault}, 0, "the router filter must be the last"},
		{"bad fault", []*hcmv3.HttpFilter{typed("envoy.filters.http.fault", &faultv3.HTTPFault{UpstreamCluster: "c"}), x.RouterFilter()}, 0, "upstream_cluster is not supported"},
	} {
		cfgs, _, err := Listeners([]*listenerv3.Listener{withFilters(tc.filters...)})
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case len(cfgs[0].HTTP.Filters) != tc.n:
			t.Errorf("%s: %d filters, want %d", tc.name, len(cfgs[0].HTTP.Filters), tc.n)
		}
	}
}
