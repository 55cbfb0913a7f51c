package compile

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	x "github.com/halyard-mesh/halyard/internal/proxy/xdstest"
)

func tcpChain(cluster string, names ...string) *listenerv3.FilterChain {
	fc := &listenerv3.FilterChain{Filters: []*listenerv3.Filter{tcpFilter(&tcpproxyv3.TcpProxy{StatPrefix: cluster,
		ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster}})}}
	if names != nil {
		fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: names}
	}
	return fc
}

func tcpFilter(t *tcpproxyv3.TcpProxy) *listenerv3.Filter {
	return &listenerv3.Filter{Name: tcpProxyFilter, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: x.Any(t)}}
}

func tlsListener(chains ...*listenerv3.FilterChain) *listenerv3.Listener {
	empty, _ := structpb.NewStruct(nil)
	return &listenerv3.Listener{Name: "0.0.0.0_443", Address: x.Addr("0.0.0.0", 443), BindToPort: wrapperspb.Bool(false),
		ListenerFilters: []*listenerv3.ListenerFilter{{Name: tlsInspectorFilter,
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: x.Any(empty)}}},
		FilterChains: chains}
}

func TestTCPChains(t *testing.T) {
	l := tlsListener(tcpChain("a", "a.example.com"), tcpChain("b", "*.example.com"))
	l.DefaultFilterChain = tcpChain("fallback")
	other := tcpChain("never", "x.example.com")
	other.FilterChainMatch.DestinationPort = wrapperspb.UInt32(8443)
	l.FilterChains = append(l.FilterChains, other)
	l.ListenerFiltersTimeout = durationpb.New(2e9)
	cfgs, _, err := Listeners([]*listenerv3.Listener{l})
	if err != nil {
		t.Fatal(err)
	}
	fc := cfgs[0].Chains
	if fc == nil || cfgs[0].TCP != nil || fc.InspectTimeout.Seconds() != 2 {
		t.Fatalf("%+v", cfgs[0])
	}
	for sni, want := range map[string]string{"a.example.com": "a", "x.example.com": "b", "other.org": "fallback"} {
		if got := fc.Match(sni); got == nil || got.Cluster != want {
			t.Errorf("%s: %+v, want %s", sni, got, want)
		}
	}
	// One plain tcp_proxy stays a single chain, with Envoy's defaults.
	single := &listenerv3.Listener{Name: "0.0.0.0_5432", Address: x.Addr("0.0.0.0", 5432), FilterChains: []*listenerv3.FilterChain{
		{Filters: []*listenerv3.Filter{tcpFilter(&tcpproxyv3.TcpProxy{
			ClusterSpecifier: &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: &tcpproxyv3.TcpProxy_WeightedCluster{
				Clusters: []*tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{{Name: "p", Weight: 80}, {Name: "r", Weight: 20}}}},
			HashPolicy: []*typev3.HashPolicy{{PolicySpecifier: &typev3.HashPolicy_SourceIp_{SourceIp: &typev3.HashPolicy_SourceIp{}}}},
		})}}}}
	cfgs, _, err = Listeners([]*listenerv3.Listener{single})
	if err != nil {
		t.Fatal(err)
	}
	if tp := cfgs[0].TCP; tp == nil || len(tp.Weighted) != 2 || !tp.HashSourceIP || tp.IdleTimeout.Hours() != 1 {
		t.Errorf("single: %+v", tp)
	}
}

func TestInvalidUpstream(t *testing.T) {
	hcmChain := x.OutboundHTTP(9080, "0.0.0.0_9080").FilterChains[0]
	srcMatch := tcpChain("a", "a.example.com")
	srcMatch.FilterChainMatch.SourcePorts = []uint32{1}
	filterState := &tcpproxyv3.TcpProxy{ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "a"},
		HashPolicy: []*typev3.HashPolicy{{PolicySpecifier: &typev3.HashPolicy_FilterState_{FilterState: &typev3.HashPolicy_FilterState{Key: "k"}}}}}
	cluster := func(mod func(c *clusterv3.Cluster)) func() error {
		return func() error {
			c := x.EDSCluster("c", false)
			mod(c)
			_, _, err := Clusters([]*clusterv3.Cluster{c})
			return err
		}
	}
	listeners := func(l *listenerv3.Listener) func() error {
		return func() error { _, _, err := Listeners([]*listenerv3.Listener{l}); return err }
	}
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"duplicate server names", listeners(tlsListener(tcpChain("a", "a.example.com"), tcpChain("b", "A.example.com"))),
			`xds: listener "0.0.0.0_443": filter chain #1: server name "a.example.com" is matched by another filter chain`},
		{"HTTP chain among several", listeners(tlsListener(tcpChain("a", "a.example.com"), hcmChain)),
			`xds: listener "0.0.0.0_443": filter chain #1: network filter "envoy.filters.network.http_connection_manager": a chain chosen by filter_chain_match must be one tcp_proxy`},
		{"source match", listeners(tlsListener(srcMatch)),
			`xds: listener "0.0.0.0_443": filter chain #0: filter_chain_match: only server_names and destination_port are supported`},
		{"filter_state hash", listeners(&listenerv3.Listener{Name: "t", Address: x.Addr("0.0.0.0", 1),
			FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{tcpFilter(filterState)}}}}),
			`xds: listener "t": tcp_proxy: only the source_ip hash policy is supported`},
		{"maglev table size", cluster(func(c *clusterv3.Cluster) {
			c.LbPolicy = clusterv3.Cluster_MAGLEV
			c.LbConfig = &clusterv3.Cluster_MaglevLbConfig_{MaglevLbConfig: &clusterv3.Cluster_MaglevLbConfig{TableSize: wrapperspb.UInt64(1000)}}
		}), `xds: cluster "c": maglev table size 1000 is not a prime number`},
		{"ring sizes", cluster(func(c *clusterv3.Cluster) {
			c.LbPolicy = clusterv3.Cluster_RING_HASH
			c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{
				MinimumRingSize: wrapperspb.UInt64(10), MaximumRingSize: wrapperspb.UInt64(5)}}
		}), `xds: cluster "c": ring hash minimum_ring_size 10 is larger than maximum_ring_size 5`},
		{"outlier interval", cluster(func(c *clusterv3.Cluster) {
			c.OutlierDetection = &clusterv3.OutlierDetection{Interval: durationpb.New(0)}
		}), `xds: cluster "c": outlier_detection: interval must be positive`},
		{"health checks", cluster(func(c *clusterv3.Cluster) {
			c.HealthChecks = append(c.HealthChecks, nil)
		}), `xds: cluster "c": active health checks are not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error:\n %v\nwant prefix:\n %s", err, tt.want)
			}
		})
	}
}
