package rbac

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Builders of Envoy RBAC pieces, in the shapes Istio's translation emits.

func exact(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
}
func prefix(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: s}}
}
func suffix(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: s}}
}
func regex(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: s}}}
}
func cidr(a string, l uint32) *corev3.CidrRange {
	return &corev3.CidrRange{AddressPrefix: a, PrefixLen: wrapperspb.UInt32(l)}
}
func hdr(name string, m *matcherv3.StringMatcher) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: m}}
}

func pAny() *rbacv3.Permission { return &rbacv3.Permission{Rule: &rbacv3.Permission_Any{Any: true}} }
func pHeader(name string, m *matcherv3.StringMatcher) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_Header{Header: hdr(name, m)}}
}
func pPath(m *matcherv3.StringMatcher) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_UrlPath{UrlPath: &matcherv3.PathMatcher{Rule: &matcherv3.PathMatcher_Path{Path: m}}}}
}
func pPort(p uint32) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_DestinationPort{DestinationPort: p}}
}
func pDestIP(c *corev3.CidrRange) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_DestinationIp{DestinationIp: c}}
}
func pSNI(m *matcherv3.StringMatcher) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_RequestedServerName{RequestedServerName: m}}
}
func pNot(p *rbacv3.Permission) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_NotRule{NotRule: p}}
}
func pOr(ps ...*rbacv3.Permission) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_OrRules{OrRules: &rbacv3.Permission_Set{Rules: ps}}}
}
func pAnd(ps ...*rbacv3.Permission) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_AndRules{AndRules: &rbacv3.Permission_Set{Rules: ps}}}
}

func idAny() *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Any{Any: true}}
}
func idAuth(m *matcherv3.StringMatcher) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Authenticated_{Authenticated: &rbacv3.Principal_Authenticated{PrincipalName: m}}}
}
func idDirect(c *corev3.CidrRange) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_DirectRemoteIp{DirectRemoteIp: c}}
}
func idRemote(c *corev3.CidrRange) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_RemoteIp{RemoteIp: c}}
}
func idHeader(name string, m *matcherv3.StringMatcher) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Header{Header: hdr(name, m)}}
}
func idNot(p *rbacv3.Principal) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_NotId{NotId: p}}
}
func idOr(ps ...*rbacv3.Principal) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_OrIds{OrIds: &rbacv3.Principal_Set{Ids: ps}}}
}
func idMeta(path []string, v *matcherv3.ValueMatcher) *rbacv3.Principal {
	m := &matcherv3.MetadataMatcher{Filter: "istio_authn", Value: v}
	for _, k := range path {
		m.Path = append(m.Path, &matcherv3.MetadataMatcher_PathSegment{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: k}})
	}
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Metadata{Metadata: m}}
}
func vString(m *matcherv3.StringMatcher) *matcherv3.ValueMatcher {
	return &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_StringMatch{StringMatch: m}}
}
func vList(m *matcherv3.StringMatcher) *matcherv3.ValueMatcher {
	return &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_ListMatch{ListMatch: &matcherv3.ListMatcher{
		MatchPattern: &matcherv3.ListMatcher_OneOf{OneOf: vString(m)}}}}
}

func rbacOf(action rbacv3.RBAC_Action, policies map[string]*rbacv3.Policy) *rbacv3.RBAC {
	return &rbacv3.RBAC{Action: action, Policies: policies}
}

func pol(perm *rbacv3.Permission, prin *rbacv3.Principal) *rbacv3.Policy {
	return &rbacv3.Policy{Permissions: []*rbacv3.Permission{perm}, Principals: []*rbacv3.Principal{prin}}
}

type meta map[string]*structpb.Struct

func (m meta) Metadata(ns string) *structpb.Struct { return m[ns] }

// req builds a request: GET url from 10.0.0.1:5000 to 10.0.0.2:9080.
func req(method, url string, mods ...func(*Request)) *Request {
	r := &Request{HTTP: httptest.NewRequest(method, url, nil),
		Source: netip.MustParseAddrPort("10.0.0.1:5000"), Dest: netip.MustParseAddrPort("10.0.0.2:9080")}
	r.Remote = r.Source.Addr()
	for _, m := range mods {
		m(r)
	}
	return r
}

func withPeer(id string) func(*Request) {
	return func(r *Request) { r.Principal, r.Authenticated = id, true }
}
func withHeader(k, v string) func(*Request) { return func(r *Request) { r.HTTP.Header.Add(k, v) } }
func withMeta(s *structpb.Struct) func(*Request) {
	return func(r *Request) { r.Metadata = meta{"istio_authn": s} }
}

func TestMatchers(t *testing.T) {
	const sleep = "spiffe://cluster.local/ns/foo/sa/sleep"
	claims, _ := structpb.NewStruct(map[string]any{
		"request.auth.principal": "https://issuer/alice",
		"request.auth.audiences": []any{"web", "api"},
		"request.auth.claims":    map[string]any{"groups": []any{"admins"}, "nested": map[string]any{"level": "gold"}, "iss": "https://issuer"},
	})
	cases := []struct {
		name string
		perm *rbacv3.Permission
		prin *rbacv3.Principal
		req  *Request
		want bool
	}{
		{"any", pAny(), idAny(), req("GET", "/"), true},
		{"method", pHeader(":method", exact("GET")), idAny(), req("GET", "/"), true},
		{"method other", pHeader(":method", exact("POST")), idAny(), req("GET", "/"), false},
		{"not method", pNot(pHeader(":method", exact("POST"))), idAny(), req("GET", "/"), true},
		{"path exact ignores the query", pPath(exact("/admin")), idAny(), req("GET", "/admin?x=1"), true},
		{"path prefix", pPath(prefix("/api/")), idAny(), req("GET", "/api/v1"), true},
		{"path prefix other", pPath(prefix("/api/")), idAny(), req("GET", "/apiv1"), false},
		{"path suffix", pPath(suffix(".js")), idAny(), req("GET", "/a/b.js"), true},
		{"path presence", pPath(regex(".+")), idAny(), req("GET", "/"), true},
		{"not path", pNot(pPath(prefix("/admin"))), idAny(), req("GET", "/admin/x"), false},
		{"host ignore case", pHeader(":authority", &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "reviews:9080"}, IgnoreCase: true}),
			idAny(), req("GET", "http://REVIEWS:9080/"), true},
		{"port", pPort(9080), idAny(), req("GET", "/"), true},
		{"port other", pPort(9090), idAny(), req("GET", "/"), false},
		{"not port", pNot(pPort(9090)), idAny(), req("GET", "/"), true},
		{"destination ip", pDestIP(cidr("10.0.0.0", 24)), idAny(), req("GET", "/"), true},
		{"destination ip other", pDestIP(cidr("10.1.0.0", 16)), idAny(), req("GET", "/"), false},
		{"sni", pSNI(exact("reviews.local")), idAny(), req("GET", "/", func(r *Request) { r.SNI = "reviews.local" }), true},
		{"sni absent", pSNI(exact("reviews.local")), idAny(), req("GET", "/"), false},
		{"or rules", pOr(pPort(1), pPort(9080)), idAny(), req("GET", "/"), true},
		{"and rules", pAnd(pPort(9080), pHeader(":method", exact("POST"))), idAny(), req("GET", "/"), false},
		{"principal exact", pAny(), idAuth(exact(sleep)), req("GET", "/", withPeer(sleep)), true},
		{"principal other", pAny(), idAuth(exact(sleep)), req("GET", "/", withPeer("spiffe://cluster.local/ns/foo/sa/other")), false},
		{"principal plaintext", pAny(), idAuth(exact(sleep)), req("GET", "/"), false},
		{"principal any authenticated", pAny(), idAuth(nil), req("GET", "/", withPeer(sleep)), true},
		{"namespace regex", pAny(), idAuth(regex(".*/ns/foo/.*")), req("GET", "/", withPeer(sleep)), true},
		{"namespace regex other", pAny(), idAuth(regex(".*/ns/bar/.*")), req("GET", "/", withPeer(sleep)), false},
		{"not namespace, plaintext", pAny(), idNot(idAuth(regex(".*/ns/bar/.*"))), req("GET", "/"), true},
		{"direct remote ip", pAny(), idDirect(cidr("10.0.0.0", 8)), req("GET", "/"), true},
		{"no prefix_len is /0", pAny(), idDirect(&corev3.CidrRange{AddressPrefix: "10.9.9.9"}), req("GET", "/"), true},
		{"direct remote ip other", pAny(), idDirect(cidr("10.0.0.2", 32)), req("GET", "/"), false},
		{"direct remote ip /32", pAny(), idDirect(cidr("10.0.0.1", 32)), req("GET", "/"), true},
		{"remote ip other", pAny(), idRemote(cidr("192.168.0.0", 16)), req("GET", "/"), false},
		{"or ids", pAny(), idOr(idRemote(cidr("192.168.0.0", 16)), idDirect(cidr("10.0.0.1", 32))), req("GET", "/"), true},
		{"request header", pAny(), idHeader("x-token", prefix("abc")), req("GET", "/", withHeader("X-Token", "abcd")), true},
		{"request header absent", pAny(), idHeader("x-token", prefix("abc")), req("GET", "/"), false},
		{"request principal", pAny(), idMeta([]string{"request.auth.principal"}, vString(exact("https://issuer/alice"))),
			req("GET", "/", withMeta(claims)), true},
		{"request principal without metadata", pAny(), idMeta([]string{"request.auth.principal"}, vString(exact("https://issuer/alice"))),
			req("GET", "/"), false},
		{"audiences", pAny(), idMeta([]string{"request.auth.audiences"}, vList(exact("api"))), req("GET", "/", withMeta(claims)), true},
		{"audiences other", pAny(), idMeta([]string{"request.auth.audiences"}, vList(exact("admin"))), req("GET", "/", withMeta(claims)), false},
		{"claim list", pAny(), idMeta([]string{"request.auth.claims", "groups"}, vList(exact("admins"))), req("GET", "/", withMeta(claims)), true},
		{"claim nested", pAny(), idMeta([]string{"request.auth.claims", "nested", "level"}, vList(exact("gold"))), req("GET", "/", withMeta(claims)), true},
		{"claim string as list", pAny(), idMeta([]string{"request.auth.claims", "iss"}, vList(exact("https://issuer"))), req("GET", "/", withMeta(claims)), true},
		{"claim missing", pAny(), idMeta([]string{"request.auth.claims", "nope"}, vList(exact("x"))), req("GET", "/", withMeta(claims)), false},
		{"tcp: header never matches", pHeader(":method", exact("GET")), idAny(), &Request{Dest: netip.MustParseAddrPort("10.0.0.2:9080")}, false},
		{"tcp: path never matches", pPath(prefix("/")), idAny(), &Request{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := Compile(rbacOf(rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{"p": pol(c.perm, c.prin)}))
			if err != nil {
				t.Fatal(err)
			}
			name, got := e.Match(c.req)
			if got != c.want {
				t.Fatalf("match = %v (%q), want %v", got, name, c.want)
			}
		})
	}
}

func TestActions(t *testing.T) {
	get := req("GET", "/admin")
	adminPolicy := map[string]*rbacv3.Policy{"admin": pol(pPath(prefix("/admin")), idAny())}
	cases := []struct {
		name   string
		rbac   *rbacv3.RBAC
		want   bool
		policy string
	}{
		{"no rules allows", nil, true, ""},
		{"allow with no policies denies all", rbacOf(rbacv3.RBAC_ALLOW, nil), false, ""},
		{"allow matched", rbacOf(rbacv3.RBAC_ALLOW, adminPolicy), true, "admin"},
		{"deny with no policies denies nothing", rbacOf(rbacv3.RBAC_DENY, nil), true, ""},
		{"deny matched", rbacOf(rbacv3.RBAC_DENY, adminPolicy), false, "admin"},
		{"log always allows", rbacOf(rbacv3.RBAC_LOG, adminPolicy), true, "admin"},
		{"first policy by name", rbacOf(rbacv3.RBAC_DENY, map[string]*rbacv3.Policy{
			"b": pol(pAny(), idAny()), "a": pol(pPath(prefix("/")), idAny())}), false, "a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := Compile(c.rbac)
			if err != nil {
				t.Fatal(err)
			}
			ok, name := e.Allowed(get)
			if ok != c.want || name != c.policy {
				t.Fatalf("Allowed = %v %q, want %v %q", ok, name, c.want, c.policy)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	cases := map[string]*rbacv3.RBAC{
		"bad cidr":           rbacOf(rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{"p": pol(pAny(), idDirect(cidr("10.0.0", 8)))}),
		"prefix too long":    rbacOf(rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{"p": pol(pAny(), idDirect(cidr("10.0.0.0", 33)))}),
		"bad regex":          rbacOf(rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{"p": pol(pPath(regex("(")), idAny())}),
		"no principals":      rbacOf(rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{"p": {Permissions: []*rbacv3.Permission{pAny()}}}),
		"empty or":           rbacOf(rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{"p": pol(pOr(), idAny())}),
		"unsupported action": {Action: rbacv3.RBAC_Action(7)},
		"port range":         rbacOf(rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{"p": pol(pPort(70000), idAny())}),
	}
	for name, pb := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Compile(pb); err == nil {
				t.Fatal("Compile succeeded")
			}
		})
	}
}
