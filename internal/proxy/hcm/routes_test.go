package hcm

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
)

// echoed is what the echo backend saw.
type echoed struct {
	Host   string
	URI    string
	Header http.Header
}

func echoBackend(t *testing.T) string {
	return backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", "1")
		w.Header().Add("X-Multi", "up")
		w.Header().Set("Server", "sample")
		json.NewEncoder(w).Encode(echoed{Host: r.Host, URI: r.RequestURI, Header: r.Header})
	})
}

func TestRouteActions(t *testing.T) {
	up := echoBackend(t)
	set := func(n, v string) router.HeaderValue {
		return router.HeaderValue{Name: n, Value: v, Action: router.OverwriteIfExistsOrAdd}
	}
	add := func(n, v string) router.HeaderValue { return router.HeaderValue{Name: n, Value: v} }
	fwd := func(name string, m router.Match, a router.Action) router.RouteConfig {
		if a.Cluster == "" && len(a.Weighted) == 0 {
			a.Cluster = "c"
		}
		return router.RouteConfig{Name: name, Match: m, Action: a}
	}
	exact := func(p string) router.Match { return router.Match{PathKind: router.PathExact, Path: p} }
	routes := []router.RouteConfig{
		{Name: "teapot", Match: exact("/teapot"), Action: router.Action{DirectStatus: 418, DirectBody: "I'm a teapot"},
			ResponseHeaders: router.HeaderOps{Add: []router.HeaderValue{set("x-route", "teapot")}}},
		{Name: "moved", Match: exact("/old"), Action: router.Action{Redirect: &router.Redirect{Host: "www.example.com", Path: "/new", Code: 302}}},
		{Name: "https", Match: prefix("/secure"), Action: router.Action{Redirect: &router.Redirect{Scheme: "https", Port: 8443}}},
		{Name: "prefix-redirect", Match: prefix("/r/"), Action: router.Action{Redirect: &router.Redirect{PrefixRewrite: "/s/", StripQuery: true}}},
		fwd("prefix", prefix("/v1/"), router.Action{PrefixRewrite: "/api/v1/"}),
		fwd("prefix-slash", prefix("/foo"), router.Action{PrefixRewrite: "/"}),
		fwd("exact", exact("/health"), router.Action{PrefixRewrite: "/healthz", HostRewrite: "internal.web"}),
		fwd("regex", router.Match{PathKind: router.PathPrefix, Path: "/users/"},
			router.Action{RegexRewrite: &router.RegexRewrite{Pattern: `^/users/([^/]+)/profile$`, Substitution: `/profiles/\1`}}),
		{Name: "headers", Match: prefix("/h"), Action: router.Action{Cluster: "c"},
			RequestHeaders: router.HeaderOps{
				Add: []router.HeaderValue{set("x-set", "route"), add("x-add", "route"),
					{Name: "x-absent", Value: "route", Action: router.AddIfAbsent},
					{Name: "x-if-exists", Value: "route", Action: router.OverwriteIfExists},
					add("x-client", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"), add("x-req", "%REQ(x-in)%-%%")},
				Remove: []string{"x-remove"}},
			ResponseHeaders: router.HeaderOps{
				Add:    []router.HeaderValue{set("x-resp", "route"), add("x-multi", "route"), add("x-upstream-addr", "%UPSTREAM_REMOTE_ADDRESS%")},
				Remove: []string{"server"}}},
		{Name: "split", Match: prefix("/split"), Action: router.Action{Weighted: []router.WeightedCluster{{
			Name: "c", Weight: 1, HostRewrite: "blue.api",
			RequestHeaders:  router.HeaderOps{Add: []router.HeaderValue{set("x-color", "blue"), set("x-set", "weighted")}},
			ResponseHeaders: router.HeaderOps{Add: []router.HeaderValue{set("x-resp", "weighted")}},
		}}}},
		fwd("missing", prefix("/missing"), router.Action{Cluster: "nope"}),
		fwd("missing404", prefix("/gone"), router.Action{Cluster: "nope", ClusterNotFoundStatus: 404}),
	}
	vh := vhost(routes...)
	vh.RequestHeaders = router.HeaderOps{Add: []router.HeaderValue{set("x-set", "vhost"), add("x-add", "vhost")}}
	vh.ResponseHeaders = router.HeaderOps{Add: []router.HeaderValue{set("x-vh", "1")}}
	tc := table(vh)
	tc.RequestHeaders = router.HeaderOps{Add: []router.HeaderValue{add("x-add", "table")}}
	rg := newRig(t, []clusterSpec{{name: "c", addrs: []string{up}}}, tc)

	type want struct {
		status   int
		location string
		host     string
		uri      string
		reqHdr   map[string]string // "" means absent
		respHdr  map[string]string
		body     string
	}
	tests := []struct {
		name, path string
		hdr        http.Header
		want       want
	}{
		{"direct response with route headers", "/teapot", nil, want{status: 418, body: "I'm a teapot",
			respHdr: map[string]string{"X-Route": "teapot", "X-Vh": "1", "Content-Type": "text/plain"}}},
		{"redirect keeps the query", "/old?x=1", nil, want{status: 302, location: "http://www.example.com/new?x=1"}},
		{"scheme and port redirect", "/secure/a", http.Header{"Host": {"web:8000"}}, want{status: 301, location: "https://web:8443/secure/a"}},
		{"prefix rewrite redirect, strip query", "/r/x?q=1", http.Header{"Host": {"web"}}, want{status: 301, location: "http://web/s/x"}},
		{"prefix rewrite", "/v1/items?q=1", nil, want{status: 200, uri: "/api/v1/items?q=1"}},
		{"prefix rewrite of the whole path", "/v1/", nil, want{status: 200, uri: "/api/v1/"}},
		{"prefix / rewrite keeps the slash", "/foo/bar", nil, want{status: 200, uri: "//bar"}},
		{"prefix / rewrite, path == prefix", "/foo", nil, want{status: 200, uri: "/"}},
		{"exact rewrite and host rewrite", "/health?full=1", http.Header{"Host": {"web:8000"}}, want{status: 200, uri: "/healthz?full=1", host: "internal.web",
			reqHdr: map[string]string{"X-Forwarded-Host": ""}}},
		{"regex rewrite", "/users/ann/profile", nil, want{status: 200, uri: "/profiles/ann"}},
		{"regex rewrite, no match", "/users/ann", nil, want{status: 200, uri: "/users/ann"}},
		{"header operations", "/h", http.Header{"X-Set": {"client"}, "X-Add": {"client"}, "X-Absent": {"client"},
			"X-Remove": {"1"}, "X-In": {"abc"}},
			want{status: 200, reqHdr: map[string]string{
				"X-Set":       "vhost", // the virtual host's set comes after the route's
				"X-Add":       "client,route,vhost,table",
				"X-Absent":    "client",
				"X-If-Exists": "",
				"X-Remove":    "",
				"X-Client":    "127.0.0.1",
				"X-Req":       "abc-%",
			}, respHdr: map[string]string{"X-Resp": "route", "X-Multi": "up,route", "Server": "", "X-Vh": "1", "X-Upstream-Addr": up}}},
		{"weighted cluster headers and host", "/split", nil, want{status: 200, host: "blue.api",
			reqHdr:  map[string]string{"X-Color": "blue", "X-Set": "vhost"},
			respHdr: map[string]string{"X-Resp": "weighted", "X-Vh": "1"}}},
		{"cluster not found", "/missing", nil, want{status: 503, body: "cluster not found", respHdr: map[string]string{"X-Vh": "1"}}},
		{"cluster not found, 404", "/gone", nil, want{status: 404, body: "cluster not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rg.do("GET", tt.path, tt.hdr, nil)
			w := tt.want
			if resp.StatusCode != w.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, w.status, body)
			}
			if loc := resp.Header.Get("Location"); loc != w.location {
				t.Errorf("location %q, want %q", loc, w.location)
			}
			if w.body != "" && body != w.body {
				t.Errorf("body %q, want %q", body, w.body)
			}
			for k, v := range w.respHdr {
				if got := strings.Join(resp.Header.Values(k), ","); got != v {
					t.Errorf("response %s: %q, want %q", k, got, v)
				}
			}
			if w.status != 200 {
				return
			}
			var e echoed
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatal(err)
			}
			if w.uri != "" && e.URI != w.uri {
				t.Errorf("upstream URI %q, want %q", e.URI, w.uri)
			}
			if w.host != "" && e.Host != w.host {
				t.Errorf("upstream Host %q, want %q", e.Host, w.host)
			}
			for k, v := range w.reqHdr {
				if got := strings.Join(e.Header.Values(k), ","); got != v {
					t.Errorf("upstream %s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestHashCookie(t *testing.T) {
	up := echoBackend(t)
	rg := newRig(t, []clusterSpec{{name: "c", addrs: []string{up}}}, table(vhost(router.RouteConfig{Name: "sticky", Match: prefix("/"),
		Action: router.Action{Cluster: "c", HashPolicy: []router.HashPolicy{
			{Kind: router.HashCookie, Name: "session", HasTTL: true, CookieTTL: time.Hour, CookiePath: "/"}}}})))
	resp, _ := rg.do("GET", "/", nil, nil)
	sc := resp.Header.Get("Set-Cookie")
	if !strings.HasPrefix(sc, `session="`) || !strings.HasSuffix(sc, `"; Max-Age=3600; Path=/; HttpOnly`) {
		t.Fatalf("Set-Cookie %q", sc)
	}
	resp, _ = rg.do("GET", "/", http.Header{"Cookie": {strings.SplitN(sc, ";", 2)[0]}}, nil)
	if v := resp.Header.Get("Set-Cookie"); v != "" {
		t.Errorf("cookie issued again: %q", v)
	}
}

func TestDebugHeader(t *testing.T) {
	dead := deadAddr(t)
	ok := echoBackend(t)
	routes := []router.RouteConfig{
		{Name: "dead", Match: prefix("/dead"), Action: router.Action{Cluster: "dead", Retry: policy("connect-failure", 1)}},
		{Name: "ok", Match: prefix("/ok"), Action: router.Action{Cluster: "ok"}},
	}
	for _, tc := range []struct {
		mode      DebugHeaders
		path      string
		ask       bool
		want      string
		wantFlags Flags
	}{
		{DebugOnRequest, "/dead", true, "UF,URX upstream connect failure after 2 attempts", UpstreamConnectionFailure | UpstreamRetryLimitExceeded},
		{DebugOnRequest, "/dead", false, "", UpstreamConnectionFailure | UpstreamRetryLimitExceeded},
		{DebugOnRequest, "/nowhere", true, "NR route not found", NoRouteFound},
		{DebugOnRequest, "/ok", true, "", 0},
		{DebugNever, "/dead", true, "", UpstreamConnectionFailure | UpstreamRetryLimitExceeded},
		{DebugAlways, "/nowhere", false, "NR route not found", NoRouteFound},
	} {
		rg := newRig(t, []clusterSpec{{name: "dead", addrs: []string{dead}}, {name: "ok", addrs: []string{ok}}},
			table(vhost(routes...)), func(o *Options) { o.DebugHeaders = tc.mode })
		hdr := http.Header{}
		if tc.ask {
			hdr.Set("X-Halyard-Debug", "1")
		}
		resp, _ := rg.do("GET", tc.path, hdr, nil)
		info := rg.last()
		if got := resp.Header.Get("X-Halyard-Reason"); got != tc.want || info.Flags != tc.wantFlags {
			t.Errorf("mode %d %s ask %v: reason %q flags %v, want %q %v", tc.mode, tc.path, tc.ask, got, info.Flags, tc.want, tc.wantFlags)
		}
	}
}

func TestLocalReplyGRPC(t *testing.T) {
	rg := newRig(t, nil, table(vhost(router.RouteConfig{Name: "d", Match: prefix("/"), Action: router.Action{DirectStatus: 503, DirectBody: "down 100%"}})))
	resp, body := rg.do("POST", "/svc/Method", http.Header{"Content-Type": {"application/grpc"}}, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Grpc-Status") != "14" || resp.Header.Get("Grpc-Message") != "down 100%25" || body != "" {
		t.Errorf("%d %v %q", resp.StatusCode, resp.Header, body)
	}
	_ = io.Discard
}

// TestForwardedFor: X-Forwarded-For gets the client's address only with
// use_remote_address (Envoy's edge setting); otherwise it passes as it
// came, and X-Forwarded-Host is never added.
func TestForwardedFor(t *testing.T) {
	seen := make(chan http.Header, 4)
	addr := backend(t, func(w http.ResponseWriter, r *http.Request) { seen <- r.Header.Clone() })
	rg := newRig(t, []clusterSpec{{name: "c", addrs: []string{addr}}},
		table(vhost(router.RouteConfig{Name: "all", Match: prefix("/"), Action: router.Action{Cluster: "c"}})))
	for _, tc := range []struct {
		name   string
		remote bool
		in     string
		want   string
	}{
		{"sidecar, no header", false, "", ""},
		{"sidecar, client's header", false, "203.0.113.7", "203.0.113.7"},
		{"edge, no header", true, "", "127.0.0.1"},
		{"edge, client's header", true, "203.0.113.7", "203.0.113.7, 127.0.0.1"},
	} {
		cfg := &Config{RouteConfigName: "r", UseRemoteAddress: tc.remote}
		rg.front.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rg.srv.Serve(w, r, "test", cfg) })
		hdr := http.Header{}
		if tc.in != "" {
			hdr.Set("X-Forwarded-For", tc.in)
		}
		if resp, _ := rg.do("GET", "/", hdr, nil); resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", tc.name, resp.StatusCode)
		}
		h := <-seen
		if got := strings.Join(h.Values("X-Forwarded-For"), ","); got != tc.want {
			t.Errorf("%s: upstream X-Forwarded-For %q, want %q", tc.name, got, tc.want)
		}
		if h.Get("X-Forwarded-Host") != "" || h.Get("X-Forwarded-Proto") != "http" {
			t.Errorf("%s: X-Forwarded-Host %q, X-Forwarded-Proto %q", tc.name, h.Get("X-Forwarded-Host"), h.Get("X-Forwarded-Proto"))
		}
	}
}
