// Package xdstest builds Envoy resources shaped per docs/ARCHITECTURE.md
// ("xDS conventions") for the data plane's tests. Only tests import it.
package xdstest

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Any packs m, panicking on error.
func Any(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

// Addr is a socket address.
func Addr(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// RouterFilter is the envoy.filters.http.router HTTP filter.
func RouterFilter() *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: "envoy.filters.http.router",
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: Any(&routerv3.Router{})}}
}

// HCMFilter wraps an HttpConnectionManager as a network filter.
func HCMFilter(h *hcmv3.HttpConnectionManager) *listenerv3.Filter {
	return &listenerv3.Filter{Name: "envoy.filters.network.http_connection_manager",
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: Any(h)}}
}

// VirtualOutbound is the explicit-mode outbound listener.
func VirtualOutbound(host string, port uint32) *listenerv3.Listener {
	empty, _ := structpb.NewStruct(nil)
	return &listenerv3.Listener{
		Name:           "virtualOutbound",
		Address:        Addr(host, port),
		UseOriginalDst: wrapperspb.Bool(true),
		ListenerFilters: []*listenerv3.ListenerFilter{{Name: "halyard.listener.explicit_proxy",
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: Any(empty)}}},
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name: "envoy.filters.network.tcp_proxy",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: Any(&tcpproxyv3.TcpProxy{
				StatPrefix: "PassthroughCluster", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "PassthroughCluster"}})},
		}}}},
	}
}

// OutboundHTTP is the 0.0.0.0_<port> listener (bind_to_port false, RDS).
func OutboundHTTP(port uint32, name string) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:       name,
		Address:    Addr("0.0.0.0", port),
		BindToPort: wrapperspb.Bool(false),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{HCMFilter(&hcmv3.HttpConnectionManager{
			StatPrefix: name,
			CodecType:  hcmv3.HttpConnectionManager_AUTO,
			RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
				RouteConfigName: name[len("0.0.0.0_"):],
				ConfigSource:    &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}},
			}},
			HttpFilters: []*hcmv3.HttpFilter{RouterFilter()},
		})}}},
	}
}

// Inbound is the inbound|<port> listener with its inline route to
// inbound|<port>||.
func Inbound(name, host string, port uint32, cluster string) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:             name,
		Address:          Addr(host, port),
		TrafficDirection: corev3.TrafficDirection_INBOUND,
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{HCMFilter(&hcmv3.HttpConnectionManager{
			StatPrefix: name,
			CodecType:  hcmv3.HttpConnectionManager_AUTO,
			RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
				Name: name,
				VirtualHosts: []*routev3.VirtualHost{{Name: "inbound|http|" + name[len("inbound|"):], Domains: []string{"*"},
					Routes: []*routev3.Route{PrefixRoute("/", cluster)}}},
			}},
			HttpFilters: []*hcmv3.HttpFilter{RouterFilter()},
		})}}},
	}
}

// PrefixRoute routes a prefix to one cluster.
func PrefixRoute(prefix, cluster string) *routev3.Route {
	return &routev3.Route{
		Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: prefix}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}},
	}
}

// WeightedRoute routes a prefix to weighted clusters (name, weight, ...).
func WeightedRoute(prefix string, clusters ...any) *routev3.Route {
	wc := &routev3.WeightedCluster{}
	for i := 0; i+1 < len(clusters); i += 2 {
		wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{
			Name: clusters[i].(string), Weight: wrapperspb.UInt32(uint32(clusters[i+1].(int)))})
	}
	return &routev3.Route{
		Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: prefix}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}}},
	}
}

// HeaderExact adds an exact header match to a route and returns it.
func HeaderExact(r *routev3.Route, name, value string) *routev3.Route {
	r.Match.Headers = append(r.Match.Headers, &routev3.HeaderMatcher{Name: name,
		HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_Exact{Exact: value}}}})
	return r
}

// RegexRoute routes a safe_regex path to a cluster.
func RegexRoute(re, cluster string) *routev3.Route {
	return &routev3.Route{
		Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}},
	}
}

// VirtualHost is a virtual host named <host>:<port> with the contract's
// domains for a service in the proxy's namespace.
func VirtualHost(short, ns string, port string, routes ...*routev3.Route) *routev3.VirtualHost {
	fqdn := short + "." + ns + ".svc.cluster.local"
	var domains []string
	for _, d := range []string{fqdn, short + "." + ns + ".svc", short + "." + ns, short} {
		domains = append(domains, d, d+":"+port)
	}
	return &routev3.VirtualHost{Name: fqdn + ":" + port, Domains: domains, Routes: routes}
}

// RouteConfig is an RDS route configuration.
func RouteConfig(name string, vhs ...*routev3.VirtualHost) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: name, VirtualHosts: vhs}
}

// EDSCluster is an outbound EDS cluster; http2 adds the HttpProtocolOptions.
func EDSCluster(name string, http2 bool) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{ServiceName: name,
			EdsConfig: &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}},
		ConnectTimeout: durationpb.New(10 * time.Second),
		LbPolicy:       clusterv3.Cluster_ROUND_ROBIN,
	}
	if http2 {
		SetHTTP2(c)
	}
	return c
}

// SetHTTP2 adds the HttpProtocolOptions with http2_protocol_options.
func SetHTTP2(c *clusterv3.Cluster) {
	c.TypedExtensionProtocolOptions = map[string]*anypb.Any{
		"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": Any(&httpv3.HttpProtocolOptions{
			UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
			}},
		}),
	}
}

// StaticCluster is a STATIC cluster with the given host:port endpoints.
func StaticCluster(name string, http2 bool, addrs ...[2]any) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(10 * time.Second),
		LoadAssignment:       CLA(name, addrs...),
	}
	if http2 {
		SetHTTP2(c)
	}
	return c
}

// PassthroughCluster is the ORIGINAL_DST cluster.
func PassthroughCluster() *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 "PassthroughCluster",
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
		LbPolicy:             clusterv3.Cluster_CLUSTER_PROVIDED,
		ConnectTimeout:       durationpb.New(10 * time.Second),
	}
}

// CLA is a ClusterLoadAssignment with one locality; each addr is
// {host string, port int}.
func CLA(name string, addrs ...[2]any) *endpointv3.ClusterLoadAssignment {
	loc := &endpointv3.LocalityLbEndpoints{LoadBalancingWeight: wrapperspb.UInt32(1)}
	for _, a := range addrs {
		loc.LbEndpoints = append(loc.LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier:      &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: Addr(a[0].(string), uint32(a[1].(int)))}},
			LoadBalancingWeight: wrapperspb.UInt32(1),
		})
	}
	return &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{loc}}
}

// CLAs collects ClusterLoadAssignments into a slice.
func CLAs(c ...*endpointv3.ClusterLoadAssignment) []*endpointv3.ClusterLoadAssignment { return c }
