package rbac

import (
	"net/http"
	"net/netip"
	"testing"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	rbacnetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/halyard-mesh/halyard/internal/proxy/filter"
	"github.com/halyard-mesh/halyard/internal/proxy/filter/filtertest"
	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/listener"
	"github.com/halyard-mesh/halyard/internal/proxy/router"
)

func mustAny(t testing.TB, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func httpFilter(t testing.TB, pb *rbachttpv3.RBAC) *HTTPFilter {
	t.Helper()
	e := filter.Lookup(Name, configType)
	if e == nil {
		t.Fatal("rbac filter not registered")
	}
	f, err := e.New(mustAny(t, pb), e.Slot())
	if err != nil {
		t.Fatal(err)
	}
	return f.(*HTTPFilter)
}

// publish is a filter that publishes istio_authn metadata, as the
// request authentication filter does, from the x-test-user header.
type publish struct{}

func (publish) OnRequest(x *hcm.Exchange) bool {
	if u := x.Request.Header.Get("X-Test-User"); u != "" {
		x.SetMetadata("istio_authn", &structpb.Struct{Fields: map[string]*structpb.Value{
			"request.auth.principal": structpb.NewStringValue("https://issuer/" + u)}})
	}
	return true
}
func (publish) OnResponse(*hcm.Exchange, int, http.Header) {}

func route(name, prefix string, perFilter []any) router.RouteConfig {
	return router.RouteConfig{Name: name, Match: router.Match{PathKind: router.PathPrefix, Path: prefix},
		Action: router.Action{Cluster: "up"}, PerFilter: perFilter}
}

var catchAll = router.VirtualHostConfig{Routes: []router.RouteConfig{route("all", "/", nil)}}

// TestHTTPFilter runs Istio's filter pair in a real HCM: DENY (paths under
// /admin) before ALLOW (requests with a request principal of alice, or
// GETs of /public). Denied requests get 403 "RBAC: access denied" with
// flag RBAC and never reach the upstream.
func TestHTTPFilter(t *testing.T) {
	deny := httpFilter(t, &rbachttpv3.RBAC{Rules: rbacOf(rbacv3.RBAC_DENY, map[string]*rbacv3.Policy{
		"ns[foo]-policy[deny-admin]-rule[0]": pol(pPath(prefix("/admin")), idAny())})})
	allow := httpFilter(t, &rbachttpv3.RBAC{Rules: rbacOf(rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{
		"ns[foo]-policy[alice]-rule[0]":  pol(pAny(), idMeta([]string{"request.auth.principal"}, vString(exact("https://issuer/alice")))),
		"ns[foo]-policy[public]-rule[0]": pol(pAnd(pHeader(":method", exact("GET")), pPath(prefix("/public"))), idAny()),
	})})
	p := filtertest.Start(t, []hcm.Filter{publish{}, deny, allow}, catchAll)
	c := &http.Client{}
	cases := []struct {
		method, path, user string
		want               int
		policy             string
	}{
		{"GET", "/public/x", "", 200, ""},
		{"POST", "/public/x", "", 403, "none"},
		{"GET", "/private", "", 403, "none"},
		{"GET", "/private", "alice", 200, ""},
		{"GET", "/private", "bob", 403, "none"},
		{"GET", "/admin/x", "alice", 403, "ns[foo]-policy[deny-admin]-rule[0]"},
		{"GET", "/public/../admin", "", 403, "ns[foo]-policy[deny-admin]-rule[0]"},
	}
	reached := 0
	for _, tc := range cases {
		h := http.Header{}
		if tc.user != "" {
			h.Set("X-Test-User", tc.user)
		}
		resp, body := p.Do(t, c, tc.method, tc.path, h)
		info := p.Info(t)
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s as %q: %d, want %d", tc.method, tc.path, tc.user, resp.StatusCode, tc.want)
			continue
		}
		if tc.want == 200 {
			reached++
			continue
		}
		if body != DeniedBody || info.Flags != hcm.RBACAccessDenied || info.Flags.String() != "RBAC" ||
			info.Details != "rbac_access_denied_matched_policy["+tc.policy+"]" {
			t.Errorf("%s %s: body %q, flags %s, details %q", tc.method, tc.path, body, info.Flags, info.Details)
		}
	}
	if got := p.Upstream.Load(); got != int64(reached) || reached != 2 {
		t.Errorf("upstream got %d requests, want %d (2)", got, reached)
	}
	if d, a := deny.Stats.Denied.Load(), allow.Stats.Denied.Load(); d != 2 || a != 3 {
		t.Errorf("denied by DENY %d (want 2), by ALLOW %d (want 3)", d, a)
	}
	if a := allow.Stats.Allowed.Load(); a != 2 {
		t.Errorf("allowed by ALLOW %d, want 2", a)
	}
}

// TestShadowAndLog: shadow rules and a LOG (AUDIT) filter never refuse.
func TestShadowAndLog(t *testing.T) {
	shadow := httpFilter(t, &rbachttpv3.RBAC{ShadowRules: rbacOf(rbacv3.RBAC_ALLOW, nil)})
	audit := httpFilter(t, &rbachttpv3.RBAC{Rules: rbacOf(rbacv3.RBAC_LOG, map[string]*rbacv3.Policy{
		"audit": pol(pPath(prefix("/a")), idAny())})})
	p := filtertest.Start(t, []hcm.Filter{shadow, audit}, catchAll)
	for _, path := range []string{"/a", "/b", "/a/1"} {
		if resp, _ := p.Do(t, &http.Client{}, "GET", path, nil); resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
	}
	if got := p.Upstream.Load(); got != 3 {
		t.Errorf("upstream got %d, want 3", got)
	}
	if s := shadow.Stats.ShadowDenied.Load(); s != 3 {
		t.Errorf("shadow denied %d, want 3", s)
	}
	if l := audit.Stats.Logged.Load(); l != 3 {
		t.Errorf("logged %d, want 3", l)
	}
}

// TestPerRoute: RBACPerRoute replaces the filter's rules on a route, and
// one without rbac disables the filter there.
func TestPerRoute(t *testing.T) {
	f := httpFilter(t, &rbachttpv3.RBAC{Rules: rbacOf(rbacv3.RBAC_ALLOW, nil)})
	open, err := perRoute(mustAny(t, &rbachttpv3.RBACPerRoute{}))
	if err != nil {
		t.Fatal(err)
	}
	vh := router.VirtualHostConfig{Routes: []router.RouteConfig{
		route("open", "/open", filtertest.PerFilter(f.slot, open)),
		route("all", "/", nil),
	}}
	p := filtertest.Start(t, []hcm.Filter{f}, vh)
	if resp, _ := p.Do(t, &http.Client{}, "GET", "/open", nil); resp.StatusCode != 200 {
		t.Errorf("/open: %d, want 200", resp.StatusCode)
	}
	if resp, _ := p.Do(t, &http.Client{}, "GET", "/closed", nil); resp.StatusCode != 403 {
		t.Errorf("/closed: %d, want 403", resp.StatusCode)
	}
}

func TestNetworkFilter(t *testing.T) {
	f, err := NewNetwork(mustAny(t, &rbacnetv3.RBAC{StatPrefix: "tcp.", Rules: rbacOf(rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{
		"p": pol(pPort(3306), idAuth(exact("spiffe://cluster.local/ns/foo/sa/app"))),
	})}))
	if err != nil {
		t.Fatal(err)
	}
	conn := func(port uint16, peer string) *listener.ConnInfo {
		return &listener.ConnInfo{Source: netip.MustParseAddrPort("10.0.0.1:4000"),
			Dest: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), port), Principal: peer}
	}
	cases := []struct {
		c    *listener.ConnInfo
		want bool
	}{
		{conn(3306, "spiffe://cluster.local/ns/foo/sa/app"), true},
		{conn(3306, "spiffe://cluster.local/ns/foo/sa/other"), false},
		{conn(3306, ""), false},
		{conn(3307, "spiffe://cluster.local/ns/foo/sa/app"), false},
	}
	for i, tc := range cases {
		ok, flags, details := f.OnConnection(tc.c)
		if ok != tc.want || (!ok && (flags != hcm.RBACAccessDenied || details != "rbac_access_denied_matched_policy[none]")) {
			t.Errorf("case %d: %v %s %q, want %v", i, ok, flags, details, tc.want)
		}
	}
	if a, d := f.Stats.Allowed.Load(), f.Stats.Denied.Load(); a != 1 || d != 3 {
		t.Errorf("allowed %d denied %d, want 1 and 3", a, d)
	}
	if _, err := NewNetwork(mustAny(t, &rbacnetv3.RBAC{Rules: rbacOf(rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{
		"p": {Permissions: []*rbacv3.Permission{pAny()}}})})); err == nil {
		t.Error("a policy without principals was accepted")
	}
}

// BenchmarkMatch: one request through Istio-shaped ALLOW rules of ten
// policies, the last matching.
func BenchmarkMatch(b *testing.B) {
	pols := map[string]*rbacv3.Policy{}
	for i := range 9 {
		pols["p"+string(rune('0'+i))] = pol(pAnd(pHeader(":method", exact("POST")), pPath(prefix("/x"))),
			idOr(idAuth(regex(".*/ns/bar/.*")), idDirect(cidr("192.168.0.0", 16))))
	}
	pols["z"] = pol(pAnd(pHeader(":method", exact("GET")), pPath(prefix("/api"))), idAuth(exact("spiffe://cluster.local/ns/foo/sa/sleep")))
	e, err := Compile(rbacOf(rbacv3.RBAC_ALLOW, pols))
	if err != nil {
		b.Fatal(err)
	}
	r := req("GET", "/api/v1", withPeer("spiffe://cluster.local/ns/foo/sa/sleep"))
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := e.Allowed(r); !ok {
			b.Fatal("denied")
		}
	}
}

// BenchmarkFilterChain: GETs through a real HCM without filters and with
// Istio's DENY and ALLOW filters; the difference is the filters' cost
// (the client, server and upstream dominate the absolute numbers).
func BenchmarkFilterChain(b *testing.B) {
	deny := func() hcm.Filter {
		return httpFilter(b, &rbachttpv3.RBAC{Rules: rbacOf(rbacv3.RBAC_DENY, map[string]*rbacv3.Policy{
			"deny": pol(pPath(prefix("/admin")), idAny())})})
	}
	allow := func() hcm.Filter {
		return httpFilter(b, &rbachttpv3.RBAC{Rules: rbacOf(rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{
			"allow": pol(pHeader(":method", exact("GET")), idOr(idDirect(cidr("127.0.0.0", 8)), idAuth(nil)))})})
	}
	for _, bc := range []struct {
		name    string
		filters func() []hcm.Filter
	}{
		{"none", func() []hcm.Filter { return nil }},
		{"deny+allow", func() []hcm.Filter { return []hcm.Filter{deny(), allow()} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := filtertest.Start(b, bc.filters(), catchAll)
			c := &http.Client{}
			b.ReportAllocs()
			for b.Loop() {
				if resp, _ := p.Do(b, c, "GET", "/x", nil); resp.StatusCode != 200 {
					b.Fatal(resp.Status)
				}
				<-p.Infos
			}
		})
	}
}

// remote_ip (Istio's remoteIpBlocks and remote.ip) is the client the HCM
// found: on a sidecar the last X-Forwarded-For address, as Envoy; the
// peer without the header. direct_remote_ip (ipBlocks) is always the peer.
func TestRemoteIPFromForwardedFor(t *testing.T) {
	allow := httpFilter(t, &rbachttpv3.RBAC{Rules: rbacOf(rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{
		"ns[foo]-policy[office]-rule[0]": pol(pAny(), idRemote(cidr("192.0.2.0", 24))),
		"ns[foo]-policy[local]-rule[0]":  pol(pPath(prefix("/local")), idDirect(cidr("127.0.0.1", 32))),
	})})
	p := filtertest.Start(t, []hcm.Filter{allow}, catchAll)
	c := &http.Client{}
	for _, tc := range []struct {
		path, xff string
		want      int
	}{
		{"/x", "", 403},                         // the peer, 127.0.0.1, is not in the block
		{"/x", "192.0.2.44", 200},               // the client
		{"/x", "192.0.2.44, 198.51.100.1", 403}, // the last address counts
		{"/x", "198.51.100.1, 192.0.2.44", 200},
		{"/x", "not-an-ip", 403}, // falls back to the peer
		{"/local", "198.51.100.1", 200},
	} {
		h := http.Header{}
		if tc.xff != "" {
			h.Set("X-Forwarded-For", tc.xff)
		}
		resp, _ := p.Do(t, c, "GET", tc.path, h)
		info := p.Info(t)
		if resp.StatusCode != tc.want {
			t.Errorf("%s with X-Forwarded-For %q: %d, want %d", tc.path, tc.xff, resp.StatusCode, tc.want)
		}
		if tc.xff == "192.0.2.44" && info.Remote != netip.MustParseAddrPort("192.0.2.44:0") {
			t.Errorf("RequestInfo.Remote %v", info.Remote)
		}
	}
}
