package cors_test

import (
	"net/http"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/halyard-mesh/halyard/internal/proxy/filter"
	"github.com/halyard-mesh/halyard/internal/proxy/filter/cors"
	"github.com/halyard-mesh/halyard/internal/proxy/filter/filtertest"
	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/router"
)

func exact(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
}

// istioPolicy is the CorsPolicy the control plane produces.
func istioPolicy(forward bool, origins ...*matcherv3.StringMatcher) *corsv3.CorsPolicy {
	return &corsv3.CorsPolicy{
		AllowOriginStringMatch:       origins,
		AllowMethods:                 "GET,POST,OPTIONS",
		AllowHeaders:                 "authorization,content-type",
		ExposeHeaders:                "x-request-id",
		MaxAge:                       "86400",
		AllowCredentials:             wrapperspb.Bool(true),
		FilterEnabled:                &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: 100}},
		ForwardNotMatchingPreflights: wrapperspb.Bool(forward),
	}
}

func start(t *testing.T, policies map[string]*corsv3.CorsPolicy) *filtertest.Proxy {
	t.Helper()
	e := filter.Lookup("", "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors")
	if e == nil || e.Name != cors.Name {
		t.Fatal("cors filter not registered by type URL")
	}
	f, err := e.New(nil, e.Slot())
	if err != nil {
		t.Fatal(err)
	}
	var vh router.VirtualHostConfig
	for path, pol := range policies {
		rc := router.RouteConfig{Name: path, Match: router.Match{PathKind: router.PathPrefix, Path: path}, Action: router.Action{Cluster: "up"}}
		if path == "/local" {
			rc.Action = router.Action{DirectStatus: 503, DirectBody: "down"}
		}
		if pol != nil {
			a, _ := anypb.New(pol)
			pf, err := filter.PerFilterConfigs(map[string]*anypb.Any{cors.Name: a})
			if err != nil {
				t.Fatal(err)
			}
			rc.PerFilter = pf
		}
		vh.Routes = append(vh.Routes, rc)
	}
	return filtertest.Start(t, []hcm.Filter{f}, vh)
}

func TestCORS(t *testing.T) {
	regex := &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: `https://.*\.example\.org`}}}
	prefix := &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "https://dev."}}
	p := start(t, map[string]*corsv3.CorsPolicy{
		"/api":     istioPolicy(false, exact("https://example.com"), prefix, regex),
		"/fwd":     istioPolicy(true, exact("https://example.com")),
		"/any":     {AllowOriginStringMatch: []*matcherv3.StringMatcher{exact("*")}},
		"/local":   istioPolicy(false, exact("https://example.com")),
		"/nocors":  nil,
		"/enabled": {AllowOriginStringMatch: []*matcherv3.StringMatcher{exact("*")}, FilterEnabled: &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{}}},
	})
	c := &http.Client{}
	preflight := func(origin string) http.Header {
		return http.Header{"Origin": {origin}, "Access-Control-Request-Method": {"POST"}}
	}
	allowed := map[string]string{
		"Access-Control-Allow-Origin":      "https://example.com",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods":     "GET,POST,OPTIONS",
		"Access-Control-Allow-Headers":     "authorization,content-type",
		"Access-Control-Max-Age":           "86400",
		"Access-Control-Expose-Headers":    "",
	}
	none := map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": "", "Access-Control-Expose-Headers": ""}
	actual := map[string]string{
		"Access-Control-Allow-Origin":      "https://example.com",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Expose-Headers":    "x-request-id",
		"Access-Control-Allow-Methods":     "",
	}
	for _, tc := range []struct {
		name, method, path string
		hdr                http.Header
		status             int
		upstream           bool
		want               map[string]string
	}{
		{"preflight allowed", "OPTIONS", "/api", preflight("https://example.com"), 200, false, allowed},
		{"preflight by prefix", "OPTIONS", "/api", preflight("https://dev.example.com"), 200, false, map[string]string{"Access-Control-Allow-Origin": "https://dev.example.com"}},
		{"preflight by regex", "OPTIONS", "/api", preflight("https://a.example.org"), 200, false, map[string]string{"Access-Control-Allow-Origin": "https://a.example.org"}},
		{"preflight not allowed, not forwarded", "OPTIONS", "/api", preflight("https://evil.com"), 200, false, none},
		{"preflight not allowed, forwarded", "OPTIONS", "/fwd", preflight("https://evil.com"), 200, true, none},
		{"OPTIONS without request method is not a preflight", "OPTIONS", "/api", http.Header{"Origin": {"https://example.com"}}, 200, true, actual},
		{"actual request allowed", "GET", "/api", http.Header{"Origin": {"https://example.com"}}, 200, true, actual},
		{"actual request not allowed", "GET", "/api", http.Header{"Origin": {"https://evil.com"}}, 200, true, none},
		{"no origin", "GET", "/api", nil, 200, true, none},
		{"any origin", "GET", "/any", http.Header{"Origin": {"https://x.io"}}, 200, true, map[string]string{"Access-Control-Allow-Origin": "https://x.io", "Access-Control-Allow-Credentials": ""}},
		{"local reply gets the headers", "GET", "/local", http.Header{"Origin": {"https://example.com"}}, 503, false, actual},
		{"route without policy", "OPTIONS", "/nocors", preflight("https://example.com"), 200, true, none},
		{"filter not enabled", "OPTIONS", "/enabled", preflight("https://example.com"), 200, true, none},
	} {
		before := p.Upstream.Load()
		resp, _ := p.Do(t, c, tc.method, tc.path, tc.hdr)
		p.Info(t)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
		if reached := p.Upstream.Load() > before; reached != tc.upstream {
			t.Errorf("%s: reached the upstream: %v, want %v", tc.name, reached, tc.upstream)
		}
		for k, v := range tc.want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %s %q, want %q", tc.name, k, got, v)
			}
		}
	}
}
