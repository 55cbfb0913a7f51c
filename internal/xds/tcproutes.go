package xds

import (
	"slices"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspector "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	tcp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// TLSInspector is the listener filter that reads the SNI of TLS listeners.
const TLSInspector = "envoy.filters.listener.tls_inspector"

// tcpListeners builds one 0.0.0.0_<port> listener (bind_to_port false) per
// port that services serve over TCP, TLS or HTTPS and none over HTTP (an
// HTTP service on the port wins: its listener is the HTTP one). With no
// service addresses to tell services apart, a TLS/HTTPS port is routed by
// SNI (one filter chain per server-name set, over all its services); an
// opaque TCP port belongs to its first service by hostname, as the first
// of conflicting services wins a shared listener in Istio.
func (g *generator) tcpListeners() []*listener.Listener {
	http := g.httpPorts()
	var out []*listener.Listener
	for _, port := range g.servicePorts() {
		if slices.Contains(http, port) {
			continue
		}
		svcs := g.servicesOn(port)
		l := &listener.Listener{
			Name:             OutboundListenerName(port),
			Address:          socketAddressOf("0.0.0.0", port),
			BindToPort:       wrapperspb.Bool(false),
			TrafficDirection: core.TrafficDirection_OUTBOUND,
		}
		if slices.ContainsFunc(svcs, func(s *registry.Service) bool { return isTLS(s, port) }) {
			l.ListenerFilters = []*listener.ListenerFilter{{
				Name:       TLSInspector,
				ConfigType: &listener.ListenerFilter_TypedConfig{TypedConfig: toAny(&tlsinspector.TlsInspector{})},
			}}
			l.FilterChains = g.tlsChains(svcs, port)
		} else {
			l.FilterChains = []*listener.FilterChain{g.tcpChain(svcs[0], port)}
		}
		out = append(out, l)
	}
	return out
}

// servicePorts lists, sorted, every port number some service serves.
func (g *generator) servicePorts() []uint32 {
	var ports []uint32
	for _, svc := range g.services {
		for _, p := range svc.Ports {
			if !slices.Contains(ports, p.Port) {
				ports = append(ports, p.Port)
			}
		}
	}
	slices.Sort(ports)
	return ports
}

func (g *generator) servicesOn(port uint32) []*registry.Service {
	var out []*registry.Service
	for _, svc := range g.services {
		if _, ok := svc.Port(port); ok {
			out = append(out, svc)
		}
	}
	return out
}

func isTLS(svc *registry.Service, port uint32) bool {
	p, _ := svc.Port(port)
	return p.Protocol == registry.TLS || p.Protocol == registry.HTTPS
}

// tcpChain is the filter chain of an opaque TCP port: the first tcp rule
// of the service's VirtualService that applies (no match, or a match that
// applies to this proxy and port), else the service port's cluster.
func (g *generator) tcpChain(svc *registry.Service, port uint32) *listener.FilterChain {
	if vs := g.virtualServiceFor(svc.Hostname); vs != nil {
		for _, rule := range vs.Spec.Tcp {
			if rule == nil || len(rule.Route) == 0 {
				continue
			}
			if len(rule.Match) == 0 || slices.ContainsFunc(rule.Match, func(m *networking.L4MatchAttributes) bool { return g.l4Applies(m, port) }) {
				return &listener.FilterChain{Filters: []*listener.Filter{g.tcpProxy(vs, rule.Route, port)}}
			}
		}
	}
	return &listener.FilterChain{Filters: []*listener.Filter{g.tcpProxyTo(OutboundClusterName(port, "", svc.Hostname), svc.Hostname)}}
}

// tlsChains are the SNI filter chains of a TLS port: for each service (by
// hostname), one chain per applicable tls match of its VirtualService,
// with filter_chain_match.server_names the match's sniHosts, or, when none
// applies, one chain for its hostname to the service port's cluster. A
// server name already claimed by an earlier chain is left out (Envoy
// rejects overlapping chains), and so is a chain left with none.
func (g *generator) tlsChains(svcs []*registry.Service, port uint32) []*listener.FilterChain {
	claimed := map[string]bool{}
	var out []*listener.FilterChain
	add := func(names []string, f *listener.Filter) bool {
		var free []string
		for _, n := range names {
			if !claimed[n] {
				claimed[n] = true
				free = append(free, n)
			}
		}
		if len(free) > 0 {
			out = append(out, &listener.FilterChain{
				FilterChainMatch: &listener.FilterChainMatch{ServerNames: free},
				Filters:          []*listener.Filter{f},
			})
		}
		return len(free) > 0
	}
	for _, svc := range svcs {
		matched := false
		if vs := g.virtualServiceFor(svc.Hostname); vs != nil {
			for _, rule := range vs.Spec.Tls {
				for _, m := range rule.GetMatch() {
					if len(rule.Route) > 0 && g.tlsApplies(m, port) {
						matched = add(m.SniHosts, g.tcpProxy(vs, rule.Route, port)) || matched
					}
				}
			}
		}
		if !matched {
			add([]string{svc.Hostname}, g.tcpProxyTo(OutboundClusterName(port, "", svc.Hostname), svc.Hostname))
		}
	}
	return out
}

// l4Applies and tlsApplies keep the matches that concern this proxy and
// port, as Istio's matchTCP and matchTLS: port, sourceLabels,
// sourceNamespace and gateways. Matches with destinationSubnets, which
// Halyard does not support (no destination addresses locally), never apply.
func (g *generator) l4Applies(m *networking.L4MatchAttributes, port uint32) bool {
	return m != nil && len(m.DestinationSubnets) == 0 && (m.Port == 0 || m.Port == port) &&
		(m.SourceNamespace == "" || m.SourceNamespace == g.pod.Namespace) &&
		appliesToMesh(m.Gateways) && labelsMatch(m.SourceLabels, g.pod.Labels)
}

func (g *generator) tlsApplies(m *networking.TLSMatchAttributes, port uint32) bool {
	return m != nil && len(m.DestinationSubnets) == 0 && (m.Port == 0 || m.Port == port) &&
		(m.SourceNamespace == "" || m.SourceNamespace == g.pod.Namespace) &&
		appliesToMesh(m.Gateways) && labelsMatch(m.SourceLabels, g.pod.Labels)
}

// tcpProxy routes a connection to one destination (stat_prefix the
// cluster name) or splits connections by weight (stat_prefix
// <VirtualService name>.<namespace>; zero-weight destinations dropped).
func (g *generator) tcpProxy(vs *config.VirtualService, dests []*networking.RouteDestination, port uint32) *listener.Filter {
	if len(dests) == 1 {
		return g.tcpProxyTo(g.destinationCluster(vs, dests[0].GetDestination(), port), ResolveHost(dests[0].GetDestination().GetHost(), vs.Namespace, g.suffix))
	}
	wc := &tcp.TcpProxy_WeightedCluster{}
	var hash bool
	for _, d := range dests {
		if d.GetWeight() > 0 {
			name := g.destinationCluster(vs, d.Destination, port)
			wc.Clusters = append(wc.Clusters, &tcp.TcpProxy_WeightedCluster_ClusterWeight{Name: name, Weight: uint32(d.Weight)})
			hash = hash || g.sourceIPHash(name)
		}
	}
	p := &tcp.TcpProxy{
		StatPrefix:       vs.Name + "." + vs.Namespace,
		ClusterSpecifier: &tcp.TcpProxy_WeightedClusters{WeightedClusters: wc},
		IdleTimeout:      g.tcpIdleTimeout(ResolveHost(dests[0].GetDestination().GetHost(), vs.Namespace, g.suffix)),
	}
	if hash {
		p.HashPolicy = sourceIPHashPolicy()
	}
	return tcpProxyFilter(p)
}

// tcpProxyTo sends connections to one cluster, with the idle timeout of the
// host's DestinationRule and a source IP hash when the cluster hashes by it.
func (g *generator) tcpProxyTo(cluster, host string) *listener.Filter {
	p := &tcp.TcpProxy{
		StatPrefix:       cluster,
		ClusterSpecifier: &tcp.TcpProxy_Cluster{Cluster: cluster},
		IdleTimeout:      g.tcpIdleTimeout(host),
	}
	if g.sourceIPHash(cluster) {
		p.HashPolicy = sourceIPHashPolicy()
	}
	return tcpProxyFilter(p)
}

// sourceIPHash says whether a cluster hashes on the source IP: the only
// consistent hash key with a TCP equivalent, as in Istio.
func (g *generator) sourceIPHash(cluster string) bool {
	c := g.byCluster[cluster]
	return c != nil && c.policy.GetLoadBalancer().GetConsistentHash().GetUseSourceIp()
}

// tcpIdleTimeout is tcp_proxy's idle_timeout, as Istio sets it: the
// top-level connectionPool.tcp.idleTimeout of the DestinationRule for the
// (first) destination's host; nil (Envoy's default, 1h) when not set.
func (g *generator) tcpIdleTimeout(host string) *durationpb.Duration {
	svc := g.model.Service(host)
	if svc == nil {
		return nil
	}
	if dr := g.destinationRuleFor(svc); dr != nil {
		return dr.policy.GetConnectionPool().GetTcp().GetIdleTimeout()
	}
	return nil
}

func tcpProxyFilter(p *tcp.TcpProxy) *listener.Filter {
	return &listener.Filter{Name: wellknown.TCPProxy, ConfigType: &listener.Filter_TypedConfig{TypedConfig: toAny(p)}}
}
