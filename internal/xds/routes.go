package xds

import (
	"strconv"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// maxDirectResponseBody is Istio's limit on direct response bodies (1MiB,
// which its validation enforces), instead of Envoy's default 4KiB.
const maxDirectResponseBody = 1 << 20

// routeConfigs builds one RouteConfiguration per HTTP-family service port,
// named by the port number, with one virtual host per service serving that
// port over HTTP. Only in transparent mode is there a catch-all virtual
// host (transparent.go), as in Istio.
func (g *generator) routeConfigs() []types.Resource {
	var out []types.Resource
	for _, port := range g.httpPorts() {
		rc := &route.RouteConfiguration{
			Name:                           RouteConfigName(port),
			MaxDirectResponseBodySizeBytes: wrapperspb.UInt32(maxDirectResponseBody),
			// One port per configuration: domains need no ":<port>".
			IgnorePortInHostMatching: true,
		}
		used := map[string]bool{}
		for _, svc := range g.services {
			p, ok := svc.Port(port)
			if !ok || !p.Protocol.IsHTTP() {
				continue
			}
			if vh := g.virtualHost(svc, port, used); vh != nil {
				rc.VirtualHosts = append(rc.VirtualHosts, vh)
			}
		}
		if vh := g.catchAllVirtualHost(); vh != nil {
			rc.VirtualHosts = append(rc.VirtualHosts, vh)
		}
		out = append(out, rc)
	}
	return out
}

// virtualHost builds a service's virtual host on one port. Envoy rejects a
// domain repeated across virtual hosts, so a domain an earlier (by
// hostname) service already claimed is left out.
func (g *generator) virtualHost(svc *registry.Service, port uint32, used map[string]bool) *route.VirtualHost {
	var domains []string
	for _, d := range Domains(svc, port, g.pod.Namespace, g.suffix) {
		if !used[d] {
			used[d] = true
			domains = append(domains, d)
		}
	}
	if len(domains) == 0 {
		return nil
	}
	return &route.VirtualHost{
		Name:    svc.Hostname + ":" + strconv.FormatUint(uint64(port), 10),
		Domains: domains,
		Routes:  g.serviceRoutes(svc, port),
	}
}

// serviceRoutes are the routes of the VirtualService for the service, or,
// when there is none or it has no route for this port, the default route.
func (g *generator) serviceRoutes(svc *registry.Service, port uint32) []*route.Route {
	if vs := g.virtualServiceFor(svc.Hostname); vs != nil {
		if routes := g.virtualServiceRoutes(vs, port); len(routes) > 0 {
			return routes
		}
	}
	return []*route.Route{g.defaultRoute(OutboundClusterName(port, "", svc.Hostname))}
}

// defaultRoute is Istio's route for a service without VirtualService:
// prefix "/" to the service port's cluster, no timeout, the default retry
// policy, and the hash policy when the cluster hashes consistently.
func (g *generator) defaultRoute(cluster string) *route.Route {
	a := &route.RouteAction{
		ClusterSpecifier: &route.RouteAction_Cluster{Cluster: cluster},
		Timeout:          routeTimeout(nil),
		MaxGrpcTimeout:   routeTimeout(nil),
		RetryPolicy:      defaultRetryPolicy(false),
	}
	if hp := g.hashPolicy(cluster); hp != nil {
		a.HashPolicy = []*route.RouteAction_HashPolicy{hp}
	}
	return &route.Route{Name: "default", Match: prefixMatch("/"), Action: &route.Route_Route{Route: a}}
}

// virtualServiceRoutes translates the http rules in order: each applicable
// match becomes one route with the rule's action (a rule without matches
// matches every request). Delegating rules are not supported and skipped.
func (g *generator) virtualServiceRoutes(vs *config.VirtualService, port uint32) []*route.Route {
	var out []*route.Route
	for _, rule := range vs.Spec.Http {
		if rule == nil || (len(rule.Route) == 0 && rule.Redirect == nil && rule.DirectResponse == nil) {
			continue
		}
		if len(rule.Match) == 0 {
			if r := g.httpRoute(vs, rule, nil, port); r != nil {
				out = append(out, r)
			}
			continue
		}
		for _, m := range rule.Match {
			if m == nil || !g.matchApplies(m, port) {
				continue
			}
			if r := g.httpRoute(vs, rule, m, port); r != nil {
				out = append(out, r)
			}
		}
	}
	return out
}

// matchApplies keeps the matches that concern this proxy and port, as
// Istio does: match.port, sourceLabels, sourceNamespace and gateways
// narrow where a match is installed rather than what it matches.
func (g *generator) matchApplies(m *networking.HTTPMatchRequest, port uint32) bool {
	if m.Port != 0 && m.Port != port {
		return false
	}
	if m.SourceNamespace != "" && m.SourceNamespace != g.pod.Namespace {
		return false
	}
	return appliesToMesh(m.Gateways) && labelsMatch(m.SourceLabels, g.pod.Labels)
}

func routeName(rule, match string) string {
	if rule != "" && match != "" {
		return rule + "." + match
	}
	return rule + match
}

// destinationCluster names the cluster of a route destination: its host
// resolved in the VirtualService's namespace; its port the destination's,
// or the service's only port, or the port being routed.
func (g *generator) destinationCluster(vs *config.VirtualService, d *networking.Destination, port uint32) string {
	host := ResolveHost(d.GetHost(), vs.Namespace, g.suffix)
	p := d.GetPort().GetNumber()
	if p == 0 {
		p = port
		if svc := g.model.Service(host); svc != nil && len(svc.Ports) == 1 {
			p = svc.Ports[0].Port
		}
	}
	return OutboundClusterName(p, d.GetSubset(), host)
}

// inboundRoute sends everything to the proxy's own app, with no timeout.
func inboundRoute(cluster string) *route.Route {
	return &route.Route{Name: "default", Match: prefixMatch("/"), Action: &route.Route_Route{Route: &route.RouteAction{
		ClusterSpecifier: &route.RouteAction_Cluster{Cluster: cluster},
		Timeout:          routeTimeout(nil),
	}}}
}
