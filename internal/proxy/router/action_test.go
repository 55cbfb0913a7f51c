package router

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestRewritePath(t *testing.T) {
	tests := []struct {
		kind         PathKind
		match, rw    string
		regex, subst string
		in, want     string
	}{
		{PathPrefix, "/v1/", "/api/v1/", "", "", "/v1/x?q=1", "/api/v1/x?q=1"},
		{PathPrefix, "/v1/", "/api/v1/", "", "", "/v1/", "/api/v1/"},
		{PathPrefix, "/foo", "/", "", "", "/foo/bar", "//bar"},
		{PathPrefix, "/foo", "/", "", "", "/foo", "/"},
		{PathPrefix, "/", "/v2", "", "", "/a", "/v2a"},
		{PathExact, "/health", "/healthz", "", "", "/health?full=1", "/healthz?full=1"},
		{PathRegex, "/items/[0-9]+", "/item", "", "", "/items/42?x", "/item?x"},
		{PathSeparatedPrefix, "/api", "/v2", "", "", "/api/x", "/v2/x"},
		{PathPrefix, "/users/", "", `^/users/([^/]+)/profile$`, `/profiles/\1`, "/users/ann/profile?a", "/profiles/ann?a"},
		{PathPrefix, "/", "", `o`, `0`, "/foo/boo", "/f00/b00"},
		{PathPrefix, "/", "", `(a)(b)`, `\2\1$\\`, "/ab", `/ba$\`},
	}
	for _, tc := range tests {
		a := Action{Cluster: "c", PrefixRewrite: tc.rw}
		if tc.regex != "" {
			a.RegexRewrite = &RegexRewrite{Pattern: tc.regex, Substitution: tc.subst}
		}
		tb := mustTable(t, VirtualHostConfig{Name: "v", Domains: []string{"*"}, Routes: []RouteConfig{{Name: "r", Match: Match{PathKind: tc.kind, Path: tc.match}, Action: a}}})
		rt := tb.VirtualHosts[0].Routes[0]
		if got := rt.RewritePath(tc.in); got != tc.want {
			t.Errorf("%v %q rewrite %q regex %q: %s → %s, want %s", tc.kind, tc.match, tc.rw, tc.regex, tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{`\2`, `\x`} {
		_, err := NewTable("t", []VirtualHostConfig{{Name: "v", Domains: []string{"*"}, Routes: []RouteConfig{{Name: "r", Match: Match{Path: "/"},
			Action: Action{Cluster: "c", RegexRewrite: &RegexRewrite{Pattern: "(a)", Substitution: bad}}}}}})
		if err == nil {
			t.Errorf("substitution %q accepted", bad)
		}
	}
}

func TestRedirectLocation(t *testing.T) {
	tests := []struct {
		rd       Redirect
		match    Match
		host     string
		target   string
		xfp      string
		want     string
		wantCode int
	}{
		{Redirect{Host: "www.example.com", Path: "/new", Code: 302}, Match{Path: "/"}, "web:8000", "/old?x=1", "", "http://www.example.com/new?x=1", 302},
		{Redirect{Path: "/new?a=b"}, Match{Path: "/"}, "web", "/old?x=1", "", "http://web/new?a=b", 301},
		{Redirect{Scheme: "https"}, Match{Path: "/"}, "web:80", "/a", "http", "https://web/a", 301},
		{Redirect{Scheme: "https"}, Match{Path: "/"}, "web:8080", "/a", "http", "https://web:8080/a", 301},
		{Redirect{Scheme: "https", Port: 8443}, Match{Path: "/"}, "web:8000", "/a", "", "https://web:8443/a", 301},
		{Redirect{Port: 9000}, Match{Path: "/"}, "[::1]:8000", "/a", "", "http://[::1]:9000/a", 301},
		{Redirect{PrefixRewrite: "/b/", StripQuery: true, Code: 308}, Match{Path: "/a/"}, "web", "/a/x?q", "", "http://web/b/x", 308},
		{Redirect{RegexRewrite: &RegexRewrite{Pattern: "^/a/(.*)$", Substitution: `/\1/a`}}, Match{Path: "/a/"}, "web", "/a/x?q", "", "http://web/x/a?q", 301},
		{Redirect{Path: "rel"}, Match{Path: "/"}, "web", "/", "", "http://web/rel", 301},
	}
	for _, tc := range tests {
		rd := tc.rd
		tb := mustTable(t, VirtualHostConfig{Name: "v", Domains: []string{"*"}, Routes: []RouteConfig{{Name: "r", Match: tc.match, Action: Action{Redirect: &rd}}}})
		r := req("GET", tc.target, "host", tc.host)
		if tc.xfp != "" {
			r.Header.Set("X-Forwarded-Proto", tc.xfp)
		}
		_, rt := tb.Match(r)
		if got := rt.RedirectLocation(r); got != tc.want || rt.RedirectCode() != tc.wantCode {
			t.Errorf("%+v on %s%s: %s %d, want %s %d", tc.rd, tc.host, tc.target, got, rt.RedirectCode(), tc.want, tc.wantCode)
		}
	}
	if _, err := NewTable("t", []VirtualHostConfig{{Name: "v", Domains: []string{"*"}, Routes: []RouteConfig{{Name: "r", Match: Match{Path: "/"},
		Action: Action{Redirect: &Redirect{Code: 200}}}}}}); err == nil {
		t.Error("redirect code 200 accepted")
	}
}

func TestHeaderMutation(t *testing.T) {
	m, err := compileHeaderOps(
		HeaderOps{Remove: []string{"x-gone"}, Add: []HeaderValue{
			{Name: "x-append", Value: "a"},
			{Name: "x-set", Value: "s", Action: OverwriteIfExistsOrAdd},
			{Name: "x-absent", Value: "new", Action: AddIfAbsent},
			{Name: "x-present", Value: "new", Action: AddIfAbsent},
			{Name: "x-if-exists", Value: "new", Action: OverwriteIfExists},
			{Name: "x-present", Value: "over", Action: OverwriteIfExists},
			{Name: "x-empty", Value: ""},
			{Name: "x-keep-empty", Value: "", KeepEmpty: true},
			{Name: "x-fmt", Value: "%REQ(:authority)%|%REQ(x-missing?x-present)%|%UPSTREAM_CLUSTER%|%PROTOCOL%|%REQ(x-long):3%"},
		}},
		HeaderOps{Add: []HeaderValue{{Name: "x-set", Value: "level2", Action: OverwriteIfExistsOrAdd}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	r := req("GET", "/", "host", "svc:80", "x-present", "old", "x-long", "abcdef")
	h := http.Header{"X-Gone": {"1"}, "X-Append": {"0"}, "X-Set": {"0", "1"}, "X-Present": {"old"}}
	m.Apply(h, &FormatContext{Request: r, Cluster: "c1"})
	want := map[string]string{
		"X-Gone": "", "X-Append": "0,a", "X-Set": "level2", "X-Absent": "new", "X-Present": "over",
		"X-If-Exists": "", "X-Empty": "", "X-Fmt": "svc:80|old|c1|HTTP/1.1|abc",
	}
	for k, v := range want {
		if got := strings.Join(h[k], ","); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if v, ok := h["X-Keep-Empty"]; !ok || v[0] != "" {
		t.Errorf("x-keep-empty: %v %v", v, ok)
	}
	// Literal values are shared but never aliased by an append.
	h2 := http.Header{}
	m.Apply(h2, nil)
	h2["X-Set"] = append(h2["X-Set"], "more")
	h3 := http.Header{}
	m.Apply(h3, nil)
	if strings.Join(h3["X-Set"], ",") != "level2" {
		t.Errorf("shared literal modified: %v", h3["X-Set"])
	}
	for _, bad := range []string{"%", "%NOPE%", "%REQ()%", "%REQ(x):0%", "%START_TIME(%s)%"} {
		if _, err := compileHeaderOps(HeaderOps{Add: []HeaderValue{{Name: "x", Value: bad}}}); err == nil {
			t.Errorf("value %q accepted", bad)
		}
	}
	for _, bad := range []string{":path", "host", "Host", ""} {
		if _, err := compileHeaderOps(HeaderOps{Remove: []string{bad}}); err == nil {
			t.Errorf("header %q accepted", bad)
		}
	}
}

func TestFormatAddresses(t *testing.T) {
	f, err := parseFormat("%DOWNSTREAM_REMOTE_ADDRESS%/%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%/%UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%/%ROUTE_NAME%")
	if err != nil {
		t.Fatal(err)
	}
	r := req("GET", "/")
	r.RemoteAddr = "10.0.0.1:5555"
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 80}))
	got := f.format(&FormatContext{Request: r, UpstreamHost: "10.0.0.3:9080", Route: "default"})
	if got != "10.0.0.1:5555/10.0.0.2/10.0.0.3/default" {
		t.Errorf("got %q", got)
	}
	// The client the HCM found (from x-forwarded-for) against the peer.
	both, err := parseFormat("%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_DIRECT_REMOTE_ADDRESS% %DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%")
	if err != nil {
		t.Fatal(err)
	}
	if got := both.format(&FormatContext{Request: r, Remote: netip.MustParseAddrPort("192.0.2.5:0")}); got != "192.0.2.5:0 192.0.2.5 10.0.0.1:5555 10.0.0.1" {
		t.Errorf("remote and direct addresses: %q", got)
	}
	if f, _ := parseFormat("%HOSTNAME%"); f.parts != nil || f.lit == "" {
		t.Errorf("HOSTNAME is not resolved when compiling: %+v", f)
	}
	st, _ := parseFormat("%START_TIME%")
	if got := st.format(&FormatContext{Start: time.Date(2025, 1, 2, 3, 4, 5, 6e6, time.UTC)}); got != "2025-01-02T03:04:05.006Z" {
		t.Errorf("START_TIME %q", got)
	}
}

func TestHashPolicies(t *testing.T) {
	mk := func(ps ...HashPolicy) *Route {
		tb := mustTable(t, VirtualHostConfig{Name: "v", Domains: []string{"*"}, Routes: []RouteConfig{{Name: "r", Match: Match{Path: "/"},
			Action: Action{Cluster: "c", HashPolicy: ps}}}})
		return tb.VirtualHosts[0].Routes[0]
	}
	hdr := HashPolicy{Kind: HashHeader, Name: "x-user"}
	cookie := HashPolicy{Kind: HashCookie, Name: "session"}
	query := HashPolicy{Kind: HashQueryParameter, Name: "u"}
	ip := HashPolicy{Kind: HashSourceIP}

	r := req("GET", "/?u=ann", "x-user", "ann", "cookie", `a=1; session="s1"`)
	hH, ok, _ := mk(hdr).Hash(r)
	if !ok || hH != HashString("ann") {
		t.Errorf("header hash %x %v", hH, ok)
	}
	if h, ok, _ := mk(cookie).Hash(r); !ok || h != HashString("s1") {
		t.Errorf("cookie hash %x %v", h, ok)
	}
	if h, ok, _ := mk(query).Hash(r); !ok || h != HashString("ann") {
		t.Errorf("query hash %x %v", h, ok)
	}
	if h, ok, _ := mk(ip).Hash(r); !ok || h != HashString("192.0.2.1") {
		t.Errorf("source ip hash %x %v", h, ok)
	}
	// Envoy combines the policies that yield a hash, unless terminal.
	both, _, _ := mk(hdr, cookie).Hash(r)
	if both != (hH<<1|hH>>63)^HashString("s1") {
		t.Errorf("combined hash %x", both)
	}
	term := hdr
	term.Terminal = true
	if h, _, _ := mk(term, cookie).Hash(r); h != hH {
		t.Errorf("terminal hash %x", h)
	}
	// A missing header yields nothing; the next policy decides.
	if h, ok, _ := mk(HashPolicy{Kind: HashHeader, Name: "x-none"}, cookie).Hash(r); !ok || h != HashString("s1") {
		t.Errorf("fallback %x %v", h, ok)
	}
	if _, ok, _ := mk(HashPolicy{Kind: HashHeader, Name: "x-none"}).Hash(r); ok {
		t.Error("no hash expected")
	}
	rw := HashPolicy{Kind: HashHeader, Name: "x-user", RegexRewrite: &RegexRewrite{Pattern: "^a", Substitution: "b"}}
	if h, _, _ := mk(rw).Hash(r); h != HashString("bnn") {
		t.Errorf("rewritten header hash %x", h)
	}
	// A cookie with a TTL is issued when missing, and its value hashes
	// the same as it will when the client sends it back.
	issue := HashPolicy{Kind: HashCookie, Name: "sid", HasTTL: true, CookieTTL: 30 * time.Second, CookiePath: "/app"}
	h, ok, set := mk(issue).Hash(req("GET", "/"))
	if !ok || !strings.HasPrefix(set, `sid="`) || !strings.HasSuffix(set, `"; Max-Age=30; Path=/app; HttpOnly`) {
		t.Fatalf("issued %q %v", set, ok)
	}
	value := strings.TrimPrefix(strings.SplitN(set, ";", 2)[0], "sid=")
	if h2, _, set2 := mk(issue).Hash(req("GET", "/", "cookie", "sid="+value)); h2 != h || set2 != "" {
		t.Errorf("returned cookie hashes %x (want %x), set %q", h2, h, set2)
	}
	session := HashPolicy{Kind: HashCookie, Name: "sid", HasTTL: true}
	if _, _, set := mk(session).Hash(req("GET", "/")); strings.Contains(set, "Max-Age") || strings.Contains(set, "Path") {
		t.Errorf("session cookie %q", set)
	}
	rt := mk(hdr, cookie, query)
	if a := testing.AllocsPerRun(100, func() { rt.Hash(r) }); a != 0 {
		t.Errorf("Hash allocates %.0f times", a)
	}
}

func TestRetriable(t *testing.T) {
	on, unknown := ParseRetryOn("5xx, gateway-error,reset,connect-failure,refused-stream,retriable-4xx,retriable-status-codes,unavailable,nonsense")
	if len(unknown) != 1 || unknown[0] != "nonsense" {
		t.Errorf("unknown %v", unknown)
	}
	if on&Retry5xx == 0 || on&RetryGRPCUnavailable == 0 {
		t.Errorf("on %b", on)
	}
	mk := func(s string, codes ...uint32) *Retry {
		o, _ := ParseRetryOn(s)
		r, err := compileRetry(&RetryPolicy{On: o, StatusCodes: codes})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		on     string
		codes  []uint32
		status int
		grpc   int
		f      Failure
		want   bool
	}{
		{"5xx", nil, 500, -1, NoFailure, true},
		{"5xx", nil, 499, -1, NoFailure, false},
		{"5xx", nil, 0, -1, Reset, true},
		{"5xx", nil, 0, -1, PerTryTimeout, true},
		{"gateway-error", nil, 502, -1, NoFailure, true},
		{"gateway-error", nil, 504, -1, NoFailure, true},
		{"gateway-error", nil, 500, -1, NoFailure, false},
		{"gateway-error", nil, 0, -1, ConnectFailure, true},
		{"reset", nil, 0, -1, Reset, true},
		{"reset", nil, 503, -1, NoFailure, false},
		{"connect-failure", nil, 0, -1, ConnectFailure, true},
		{"connect-failure", nil, 0, -1, Reset, false},
		{"connect-failure", nil, 0, -1, PerTryTimeout, false},
		{"refused-stream", nil, 0, -1, RefusedStream, true},
		{"refused-stream", nil, 0, -1, Reset, false},
		{"retriable-4xx", nil, 409, -1, NoFailure, true},
		{"retriable-4xx", nil, 429, -1, NoFailure, false},
		{"retriable-status-codes", []uint32{429, 503}, 429, -1, NoFailure, true},
		{"retriable-status-codes", []uint32{429}, 503, -1, NoFailure, false},
		{"5xx", []uint32{429}, 429, -1, NoFailure, false}, // codes need the condition
		{"cancelled", nil, 200, 1, NoFailure, true},
		{"deadline-exceeded", nil, 200, 4, NoFailure, true},
		{"resource-exhausted", nil, 200, 8, NoFailure, true},
		{"internal", nil, 200, 13, NoFailure, true},
		{"unavailable", nil, 200, 14, NoFailure, true},
		{"unavailable", nil, 200, 13, NoFailure, false},
		{"unavailable", nil, 200, -1, NoFailure, false},
	}
	for _, tc := range tests {
		if got := mk(tc.on, tc.codes...).Retriable(tc.status, tc.grpc, tc.f); got != tc.want {
			t.Errorf("%s %v: status %d grpc %d failure %d: %v, want %v", tc.on, tc.codes, tc.status, tc.grpc, tc.f, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	r, _ := compileRetry(&RetryPolicy{})
	if r.BaseInterval != 25*time.Millisecond || r.MaxInterval != 250*time.Millisecond || r.HostSelectionMaxAttempts != 1 {
		t.Fatalf("defaults %+v", r)
	}
	for n, ceiling := range map[int]time.Duration{1: 25 * time.Millisecond, 2: 75 * time.Millisecond, 3: 175 * time.Millisecond, 4: 250 * time.Millisecond, 40: 250 * time.Millisecond} {
		var maxSeen time.Duration
		for range 2000 {
			d := r.Backoff(n)
			if d < 0 || d >= ceiling {
				t.Fatalf("retry %d: backoff %s outside [0, %s)", n, d, ceiling)
			}
			maxSeen = max(maxSeen, d)
		}
		if maxSeen < ceiling*8/10 {
			t.Errorf("retry %d: max backoff %s of 2000 draws, want close to %s (full jitter)", n, maxSeen, ceiling)
		}
	}
	if _, err := compileRetry(&RetryPolicy{BaseInterval: time.Second, MaxInterval: time.Millisecond}); err == nil {
		t.Error("max below base accepted")
	}
}

func TestFraction(t *testing.T) {
	for _, tc := range []struct {
		f    Fraction
		want float64
	}{
		{Fraction{0, 100}, 0}, {Fraction{100, 100}, 100}, {Fraction{500000, 1000000}, 50}, {Fraction{30, 100}, 30},
	} {
		hits := 0
		for range 10000 {
			if tc.f.Hit() {
				hits++
			}
		}
		if got := float64(hits) / 100; got < tc.want-3 || got > tc.want+3 {
			t.Errorf("%v: %.1f%%, want %.0f%%", tc.f, got, tc.want)
		}
	}
}

func TestPerFilterInheritance(t *testing.T) {
	tb, err := NewTableConfig(TableConfig{Name: "t", PerFilter: []any{"table", "table", "table"},
		VirtualHosts: []VirtualHostConfig{{Name: "v", Domains: []string{"*"}, PerFilter: []any{nil, "vhost"},
			Retry: &RetryPolicy{NumRetries: 7}, Mirrors: []MirrorPolicy{{Cluster: "m"}},
			Routes: []RouteConfig{
				{Name: "own", Match: Match{Path: "/own"}, PerFilter: []any{"route"}, Action: Action{Cluster: "c", Retry: &RetryPolicy{NumRetries: 1}, Mirrors: []MirrorPolicy{{Cluster: "own"}}}},
				{Name: "inherit", Match: Match{Path: "/"}, Action: Action{Cluster: "c"}},
			}}}})
	if err != nil {
		t.Fatal(err)
	}
	own, inherit := tb.VirtualHosts[0].Routes[0], tb.VirtualHosts[0].Routes[1]
	if own.FilterConfig(0) != "route" || own.FilterConfig(1) != "vhost" || own.FilterConfig(2) != "table" || own.FilterConfig(9) != nil {
		t.Errorf("own per-filter: %v", own.perFilter)
	}
	if inherit.FilterConfig(0) != "table" || inherit.FilterConfig(1) != "vhost" {
		t.Errorf("inherited per-filter: %v", inherit.perFilter)
	}
	if own.Retry().NumRetries != 1 || inherit.Retry().NumRetries != 7 || own.Mirrors()[0].Cluster != "own" || inherit.Mirrors()[0].Cluster != "m" {
		t.Error("retry/mirror inheritance")
	}
}
