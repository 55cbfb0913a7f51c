package xds

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	rbachttp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/proxy/filter/rbac"
	"github.com/halyard-mesh/halyard/internal/proxy/listener"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// authzCase is one request (or, with tcp, connection) to reviews-0
// (default namespace, app=reviews, transparent at 10.0.0.2) from the
// caller sa "sleep" in namespace "foo" at 10.0.0.1, unless peer says
// otherwise.
type authzCase struct {
	name     string
	policies string
	method   string // "" is GET
	path     string // "" is /
	header   [2]string
	peer     string // SPIFFE ID; "-" is plaintext
	jwt      string // request.auth.principal
	tcp      bool   // a connection to port 3306 instead
	want     bool
}

const sleepID = "spiffe://cluster.local/ns/foo/sa/sleep"

func policy(ns, name, spec string) string {
	return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: " + name +
		"\n  namespace: " + ns + "\nspec:\n  " + strings.ReplaceAll(strings.TrimSpace(spec), "\n", "\n  ") + "\n---\n"
}

// decide translates the policies for reviews' sidecar and runs the
// request through the proxy's compiled filters, in chain order.
func decide(t *testing.T, c authzCase) bool {
	t.Helper()
	snap, diags := config.Parse("authz.yaml", []byte(c.policies))
	if snap == nil {
		t.Fatalf("config: %v", diags)
	}
	g := &generator{root: DefaultRootNamespace, authzs: snap.AuthorizationPolicies,
		pod: &registry.Pod{Name: "reviews-0", Namespace: "default", Labels: map[string]string{"app": "reviews"}, IP: "10.0.0.2"}}
	peer := sleepID
	if c.peer != "" {
		peer = strings.TrimPrefix(c.peer, "-")
	}
	if c.tcp {
		for _, f := range g.authzNetworkFilters(3306) {
			nf, err := rbac.NewNetwork(f.GetTypedConfig())
			if err != nil {
				t.Fatal(err)
			}
			ok, _, _ := nf.OnConnection(&listener.ConnInfo{Source: netip.MustParseAddrPort("10.0.0.1:4000"),
				Dest: netip.MustParseAddrPort("10.0.0.2:3306"), Principal: peer})
			if !ok {
				return false
			}
		}
		return true
	}
	r := &rbac.Request{HTTP: httptest.NewRequest(or(c.method, "GET"), "http://reviews:9080"+or(c.path, "/"), nil),
		Source: netip.MustParseAddrPort("10.0.0.1:4000"), Dest: netip.MustParseAddrPort("10.0.0.2:9080"),
		Principal: peer, Authenticated: peer != ""}
	r.Remote = r.Source.Addr()
	if c.header[0] != "" {
		r.HTTP.Header.Set(c.header[0], c.header[1])
	}
	if c.jwt != "" {
		r.Metadata = authnMeta{"request.auth.principal": structpb.NewStringValue(c.jwt)}
	}
	for _, f := range g.authzHTTPFilters(9080) {
		pb := &rbachttp.RBAC{}
		if err := f.GetTypedConfig().UnmarshalTo(pb); err != nil {
			t.Fatal(err)
		}
		cfg, err := rbac.CompileHTTP(pb)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := cfg.Rules.Allowed(r); !ok {
			return false
		}
	}
	return true
}

type authnMeta map[string]*structpb.Value

func (m authnMeta) Metadata(ns string) *structpb.Struct {
	if ns != authnFilter {
		return nil
	}
	return &structpb.Struct{Fields: m}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestAuthorizationSemantics checks Istio's documented outcomes of
// AuthorizationPolicies end to end: translated by the control plane,
// compiled and evaluated by the proxy's rbac filters.
func TestAuthorizationSemantics(t *testing.T) {
	allowNothing := policy("default", "allow-nothing", "{}")
	allowAll := policy("default", "allow-all", "rules: [{}]")
	denyAdmin := policy("default", "deny-admin", "action: DENY\nrules:\n- to:\n  - operation: {paths: [\"/admin*\"]}")
	getOnly := policy("default", "get-only", "rules:\n- to:\n  - operation: {methods: [GET]}")
	cases := []authzCase{
		{name: "no policy allows", policies: "", want: true},
		{name: "ALLOW without rules denies all", policies: allowNothing, want: false},
		{name: "ALLOW without rules denies TCP too", policies: allowNothing, tcp: true, want: false},
		{name: "rules: [{}] allows all", policies: allowAll, want: true},
		{name: "DENY without rules matches nothing", policies: policy("default", "d", "action: DENY"), want: true},
		{name: "DENY rules: [{}] denies all", policies: policy("default", "d", "action: DENY\nrules: [{}]"), want: false},
		{name: "DENY before ALLOW", policies: denyAdmin + allowAll, path: "/admin/x", want: false},
		{name: "DENY does not match, ALLOW all", policies: denyAdmin + allowAll, path: "/x", want: true},
		{name: "DENY path ignores the query", policies: denyAdmin + allowAll, path: "/admin?x=1", want: false},
		{name: "an ALLOW denies what it does not match", policies: getOnly, method: "POST", want: false},
		{name: "ALLOW matched", policies: getOnly, want: true},
		{name: "selector of another workload", policies: policy("default", "s", "selector: {matchLabels: {app: ratings}}"), want: true},
		{name: "selector of this workload", policies: policy("default", "s", "selector: {matchLabels: {app: reviews}}"), want: false},
		{name: "root namespace applies mesh-wide", policies: policy("istio-system", "m", "{}"), want: false},
		{name: "another namespace does not apply", policies: policy("other", "m", "{}"), want: true},
		{name: "CUSTOM is ignored", policies: policy("default", "c", "action: CUSTOM\nprovider: {name: x}\nrules: [{}]"), want: true},
		{name: "AUDIT never denies", policies: policy("default", "a", "action: AUDIT\nrules: [{}]"), want: true},
		{name: "principal allowed", policies: policy("default", "p", "rules:\n- from:\n  - source: {principals: [cluster.local/ns/foo/sa/sleep]}"), want: true},
		{name: "principal other", policies: policy("default", "p", "rules:\n- from:\n  - source: {principals: [cluster.local/ns/foo/sa/other]}"), want: false},
		{name: "principal plaintext", policies: policy("default", "p", "rules:\n- from:\n  - source: {principals: [\"*\"]}"), peer: "-", want: false},
		{name: "notPrincipals", policies: policy("default", "p", "rules:\n- from:\n  - source: {notPrincipals: [cluster.local/ns/foo/sa/sleep]}"), want: false},
		{name: "namespace", policies: policy("default", "p", "rules:\n- from:\n  - source: {namespaces: [foo]}"), want: true},
		{name: "notNamespaces", policies: policy("default", "p", "rules:\n- from:\n  - source: {notNamespaces: [foo]}"), want: false},
		{name: "ipBlocks", policies: policy("default", "p", "rules:\n- from:\n  - source: {ipBlocks: [10.0.0.0/24]}"), want: true},
		{name: "notIpBlocks", policies: policy("default", "p", "rules:\n- from:\n  - source: {notIpBlocks: [10.0.0.1]}"), want: false},
		{name: "remoteIpBlocks", policies: policy("default", "p", "rules:\n- from:\n  - source: {remoteIpBlocks: [192.168.0.0/16]}"), want: false},
		{name: "requestPrincipals", policies: policy("default", "p", "rules:\n- from:\n  - source: {requestPrincipals: [\"https://issuer/*\"]}"), jwt: "https://issuer/alice", want: true},
		{name: "requestPrincipals without a JWT", policies: policy("default", "p", "rules:\n- from:\n  - source: {requestPrincipals: [\"*\"]}"), want: false},
		{name: "hosts case-insensitive", policies: policy("default", "p", "rules:\n- to:\n  - operation: {hosts: [REVIEWS:9080]}"), want: true},
		{name: "notHosts", policies: policy("default", "p", "rules:\n- to:\n  - operation: {notHosts: [\"reviews*\"]}"), want: false},
		{name: "ports", policies: policy("default", "p", "rules:\n- to:\n  - operation: {ports: [\"9080\"]}"), want: true},
		{name: "notPorts", policies: policy("default", "p", "rules:\n- to:\n  - operation: {notPorts: [\"9080\"]}"), want: false},
		{name: "notMethods", policies: policy("default", "p", "rules:\n- to:\n  - operation: {notMethods: [GET]}"), want: false},
		{name: "paths suffix", policies: policy("default", "p", "rules:\n- to:\n  - operation: {paths: [\"*.js\"]}"), path: "/a/b.js", want: true},
		{name: "notPaths", policies: policy("default", "p", "rules:\n- to:\n  - operation: {notPaths: [/secret]}"), path: "/secret", want: false},
		{name: "when header notValues", policies: policy("default", "p", "rules:\n- when:\n  - {key: \"request.headers[x-user]\", notValues: [bob]}"),
			header: [2]string{"X-User", "bob"}, want: false},
		{name: "when header other", policies: policy("default", "p", "rules:\n- when:\n  - {key: \"request.headers[x-user]\", notValues: [bob]}"),
			header: [2]string{"X-User", "alice"}, want: true},
		{name: "when source.namespace", policies: policy("default", "p", "rules:\n- when:\n  - {key: source.namespace, values: [foo]}"), want: true},
		{name: "when destination.port", policies: policy("default", "p", "rules:\n- when:\n  - {key: destination.port, values: [\"9090\"]}"), want: false},
		{name: "tcp: ALLOW rule with HTTP-only fields is ignored", policies: getOnly, tcp: true, want: false},
		{name: "tcp: ALLOW by port", policies: policy("default", "p", "rules:\n- to:\n  - operation: {ports: [\"3306\"]}"), tcp: true, want: true},
		{name: "tcp: DENY drops HTTP-only fields", policies: denyAdmin, tcp: true, want: false},
		{name: "tcp: DENY keeps the other fields", policies: policy("default", "d",
			"action: DENY\nrules:\n- from:\n  - source: {principals: [cluster.local/ns/foo/sa/other]}\n  to:\n  - operation: {methods: [GET]}"), tcp: true, want: true},
		{name: "tcp: ALLOW by principal", policies: policy("default", "p", "rules:\n- from:\n  - source: {principals: [cluster.local/ns/foo/sa/sleep]}"), tcp: true, want: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := decide(t, c); got != c.want {
				t.Errorf("allowed = %v, want %v", got, c.want)
			}
		})
	}
}
