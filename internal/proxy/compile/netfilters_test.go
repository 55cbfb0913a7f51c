package compile

import (
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbacnetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	"google.golang.org/protobuf/types/known/structpb"

	x "github.com/halyard-mesh/halyard/internal/proxy/xdstest"
)

func netRBAC(name string) *listenerv3.Filter {
	return &listenerv3.Filter{Name: name, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: x.Any(&rbacnetv3.RBAC{
		StatPrefix: "tcp.", Rules: &rbacv3.RBAC{Action: rbacv3.RBAC_DENY}})}}
}

// TestNetworkFilters: network rbac filters before a tcp_proxy are
// compiled into its Filters, in single chains and chains chosen by
// filter_chain_match; anything else before a terminal filter is NACKed.
func TestNetworkFilters(t *testing.T) {
	chain := tcpChain("inbound|3306||")
	chain.Filters = append([]*listenerv3.Filter{netRBAC("envoy.filters.network.rbac"), netRBAC("envoy.filters.network.rbac")}, chain.Filters...)
	single := &listenerv3.Listener{Name: "inbound|3306", Address: x.Addr("127.0.0.1", 3306), FilterChains: []*listenerv3.FilterChain{chain}}
	cfgs, _, err := Listeners([]*listenerv3.Listener{single})
	if err != nil {
		t.Fatal(err)
	}
	if cfgs[0].TCP == nil || len(cfgs[0].TCP.Filters) != 2 {
		t.Fatalf("single chain: %+v", cfgs[0].TCP)
	}
	sni := tcpChain("a", "a.example.com")
	sni.Filters = append([]*listenerv3.Filter{netRBAC("envoy.filters.network.rbac")}, sni.Filters...)
	cfgs, _, err = Listeners([]*listenerv3.Listener{tlsListener(sni)})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfgs[0].Chains.Match("a.example.com"); got == nil || len(got.Filters) != 1 {
		t.Fatalf("sni chain: %+v", got)
	}

	empty, _ := structpb.NewStruct(nil)
	other := tcpChain("c")
	other.Filters = append([]*listenerv3.Filter{{Name: "envoy.filters.network.ext_authz",
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: x.Any(empty)}}}, other.Filters...)
	_, _, err = Listeners([]*listenerv3.Listener{{Name: "l", Address: x.Addr("127.0.0.1", 1), FilterChains: []*listenerv3.FilterChain{other}}})
	if err == nil || !strings.Contains(err.Error(), `unsupported network filter "envoy.filters.network.ext_authz" before tcp_proxy`) {
		t.Errorf("ext_authz before tcp_proxy: %v", err)
	}
	bad := tcpChain("c")
	bad.Filters = append([]*listenerv3.Filter{{Name: "envoy.filters.network.rbac", ConfigType: &listenerv3.Filter_TypedConfig{
		TypedConfig: x.Any(&rbacnetv3.RBAC{Rules: &rbacv3.RBAC{Policies: map[string]*rbacv3.Policy{"p": {}}}})}}}, bad.Filters...)
	_, _, err = Listeners([]*listenerv3.Listener{{Name: "l", Address: x.Addr("127.0.0.1", 1), FilterChains: []*listenerv3.FilterChain{bad}}})
	if err == nil || !strings.Contains(err.Error(), `rbac: policy "p": a policy needs permissions and principals`) {
		t.Errorf("bad rbac: %v", err)
	}
}
