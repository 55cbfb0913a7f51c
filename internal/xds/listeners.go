package xds

import (
	"fmt"
	"slices"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/halyard-mesh/halyard/internal/registry"
)

// listeners builds virtualOutbound, one 0.0.0.0_<port> listener per
// service port in the mesh (HTTP, or TCP/TLS: tcproutes.go), and one
// inbound|<port> listener per pod port that has a sidecar inbound address.
func (g *generator) listeners() ([]types.Resource, error) {
	pod, err := g.podListeners()
	if err != nil {
		return nil, err
	}
	return append(g.sharedListeners(), pod...), nil
}

// sharedListeners are the outbound listeners every proxy of the same class
// (see Builder) gets alike.
func (g *generator) sharedListeners() []types.Resource {
	var out []types.Resource
	for _, port := range g.httpPorts() {
		out = append(out, outboundHTTPListener(port))
	}
	for _, l := range g.tcpListeners() {
		out = append(out, l)
	}
	return g.withAccessLogs(out)
}

// podListeners are the listeners at the pod's own addresses: its outbound
// capture and one inbound listener per container port.
func (g *generator) podListeners() ([]types.Resource, error) {
	vo, err := g.virtualOutbound()
	if err != nil {
		return nil, err
	}
	out := []types.Resource{vo}
	if g.transparent() {
		in, err := g.transparentListeners()
		return append(out, in...), err
	}
	for _, pp := range g.pod.Ports {
		if pp.InboundAddress == "" {
			continue
		}
		l, err := g.inboundListener(pp)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return g.withAccessLogs(out), nil
}

func (g *generator) virtualOutbound() (*listener.Listener, error) {
	addr := g.pod.OutboundAddress
	explicit := addr != ""
	if !explicit {
		addr = TransparentOutboundAddress
	}
	sa, err := socketAddress(addr)
	if err != nil {
		return nil, fmt.Errorf("xds: pod %s/%s outbound address: %w", g.pod.Namespace, g.pod.Name, err)
	}
	l := &listener.Listener{
		Name:             VirtualOutboundListener,
		Address:          sa,
		UseOriginalDst:   wrapperspb.Bool(true),
		TrafficDirection: core.TrafficDirection_OUTBOUND,
		FilterChains:     []*listener.FilterChain{tcpProxyChain(g.outboundFallbackCluster())},
	}
	if explicit {
		l.ListenerFilters = []*listener.ListenerFilter{{
			Name:       ExplicitProxyFilter,
			ConfigType: &listener.ListenerFilter_TypedConfig{TypedConfig: toAny(&structpb.Struct{})},
		}}
	}
	return l, nil
}

// httpPorts lists, sorted, every port number that some service in the
// mesh serves with an HTTP-family protocol.
func (g *generator) httpPorts() []uint32 {
	var ports []uint32
	for _, svc := range g.services {
		for _, p := range svc.Ports {
			if p.Protocol.IsHTTP() && !slices.Contains(ports, p.Port) {
				ports = append(ports, p.Port)
			}
		}
	}
	slices.Sort(ports)
	return ports
}

func outboundHTTPListener(port uint32) *listener.Listener {
	name := OutboundListenerName(port)
	m := httpConnectionManager("outbound_"+name, &hcm.Rds{
		RouteConfigName: RouteConfigName(port),
		ConfigSource:    adsConfigSource(),
	}, nil, outboundHTTPFilters())
	return &listener.Listener{
		Name:             name,
		Address:          socketAddressOf("0.0.0.0", port),
		BindToPort:       wrapperspb.Bool(false),
		TrafficDirection: core.TrafficDirection_OUTBOUND,
		FilterChains:     []*listener.FilterChain{{Filters: []*listener.Filter{m}}},
	}
}

// inboundListener is the listener of one container port: an HCM with the
// inbound HTTP filters for HTTP ports, else the inbound network filters
// and tcp_proxy, with the port's mutual-TLS filter chains.
func (g *generator) inboundListener(pp registry.PodPort) (*listener.Listener, error) {
	sa, err := socketAddress(pp.InboundAddress)
	if err != nil {
		return nil, fmt.Errorf("xds: pod %s/%s port %d: %w", g.pod.Namespace, g.pod.Name, pp.ContainerPort, err)
	}
	proto, _ := g.inboundSettings(pp)
	name := InboundListenerName(pp.ContainerPort)
	cluster := InboundClusterName(pp.ContainerPort)
	chain := tcpProxyChain(cluster)
	chain.Filters = append(g.inboundNetworkFilters(pp.ContainerPort), chain.Filters...)
	if proto.IsHTTP() {
		rc := &route.RouteConfiguration{
			Name: name,
			VirtualHosts: []*route.VirtualHost{{
				Name:    fmt.Sprintf("inbound|http|%d", pp.ContainerPort),
				Domains: []string{"*"},
				Routes:  []*route.Route{inboundRoute(cluster)},
			}},
		}
		statPrefix := fmt.Sprintf("inbound_0.0.0.0_%d", pp.ContainerPort)
		chain = &listener.FilterChain{Filters: []*listener.Filter{
			httpConnectionManager(statPrefix, nil, rc, g.inboundHTTPFilters(pp.ContainerPort)),
		}}
	}
	l := &listener.Listener{
		Name:             name,
		Address:          sa,
		TrafficDirection: core.TrafficDirection_INBOUND,
		FilterChains:     []*listener.FilterChain{chain},
	}
	g.applyPeerAuth(l, pp.ContainerPort) // mtls.go
	return l, nil
}

// httpConnectionManager builds an HCM filter that takes its routes from RDS
// (rds) or inline (rc), with the given HTTP filters.
func httpConnectionManager(statPrefix string, rds *hcm.Rds, rc *route.RouteConfiguration, filters []*hcm.HttpFilter) *listener.Filter {
	m := &hcm.HttpConnectionManager{
		StatPrefix:  statPrefix,
		CodecType:   hcm.HttpConnectionManager_AUTO,
		HttpFilters: filters,
	}
	if rds != nil {
		m.RouteSpecifier = &hcm.HttpConnectionManager_Rds{Rds: rds}
	} else {
		m.RouteSpecifier = &hcm.HttpConnectionManager_RouteConfig{RouteConfig: rc}
	}
	return &listener.Filter{
		Name:       wellknown.HTTPConnectionManager,
		ConfigType: &listener.Filter_TypedConfig{TypedConfig: toAny(m)},
	}
}

func tcpProxyChain(cluster string) *listener.FilterChain {
	p := &tcp.TcpProxy{
		StatPrefix:       cluster,
		ClusterSpecifier: &tcp.TcpProxy_Cluster{Cluster: cluster},
	}
	return &listener.FilterChain{Filters: []*listener.Filter{{
		Name:       wellknown.TCPProxy,
		ConfigType: &listener.Filter_TypedConfig{TypedConfig: toAny(p)},
	}}}
}

func adsConfigSource() *core.ConfigSource {
	return &core.ConfigSource{
		ConfigSourceSpecifier: &core.ConfigSource_Ads{Ads: &core.AggregatedConfigSource{}},
		ResourceApiVersion:    core.ApiVersion_V3,
	}
}

// socketAddress parses "host:port" into an Envoy address.
func socketAddress(addr string) (*core.Address, error) {
	host, port, err := splitHostPort(addr)
	if err != nil {
		return nil, err
	}
	return socketAddressOf(host, port), nil
}

func socketAddressOf(host string, port uint32) *core.Address {
	return &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
		Address:       host,
		PortSpecifier: &core.SocketAddress_PortValue{PortValue: port},
	}}}
}
