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

// routeConfigs builds one RouteConfiguration per HTTP-family service port,
// named by the port number, with one virtual host per service serving that
// port over HTTP. There is no catch-all virtual host.
func (g *generator) routeConfigs() []types.Resource {
	var out []types.Resource
	for _, port := range g.httpPorts() {
		rc := &route.RouteConfiguration{Name: RouteConfigName(port)}
		used := map[string]bool{}
		for _, svc := range g.model.Services {
			p, ok := svc.Port(port)
			if !ok || !p.Protocol.IsHTTP() {
				continue
			}
			if vh := g.virtualHost(svc, port, used); vh != nil {
				rc.VirtualHosts = append(rc.VirtualHosts, vh)
			}
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
	return []*route.Route{clusterRoute(prefixMatch("/"), OutboundClusterName(port, "", svc.Hostname), "default")}
}

// virtualServiceRoutes translates the http rules in order: each applicable
// match becomes one route with the rule's action (a rule without matches
// matches every request). Rules that do not route to destinations
// (redirect, directResponse, delegate) are not supported and skipped.
func (g *generator) virtualServiceRoutes(vs *config.VirtualService, port uint32) []*route.Route {
	var out []*route.Route
	for _, rule := range vs.Spec.Http {
		if rule == nil || len(rule.Route) == 0 {
			continue
		}
		action := g.routeAction(vs, rule.Route, port)
		if len(rule.Match) == 0 {
			out = append(out, &route.Route{Name: rule.Name, Match: prefixMatch("/"), Action: action})
			continue
		}
		for _, m := range rule.Match {
			if m != nil && g.matchApplies(m, port) {
				out = append(out, &route.Route{Name: routeName(rule.Name, m.Name), Match: routeMatch(m), Action: action})
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

// routeAction sends to one cluster or splits by weight. As in Istio,
// zero-weight destinations are dropped when there are others, and a split
// left with one destination becomes a plain cluster route.
func (g *generator) routeAction(vs *config.VirtualService, dests []*networking.HTTPRouteDestination, port uint32) *route.Route_Route {
	var kept []*networking.HTTPRouteDestination
	for _, d := range dests {
		if d != nil && (d.Weight > 0 || len(dests) == 1) {
			kept = append(kept, d)
		}
	}
	if len(kept) == 0 { // all weights zero: split evenly
		for _, d := range dests {
			if d != nil {
				kept = append(kept, &networking.HTTPRouteDestination{Destination: d.Destination, Weight: 1})
			}
		}
	}
	if len(kept) == 1 {
		return clusterAction(g.destinationCluster(vs, kept[0].Destination, port))
	}
	wc := &route.WeightedCluster{}
	for _, d := range kept {
		wc.Clusters = append(wc.Clusters, &route.WeightedCluster_ClusterWeight{
			Name:   g.destinationCluster(vs, d.Destination, port),
			Weight: wrapperspb.UInt32(uint32(d.Weight)),
		})
	}
	return &route.Route_Route{Route: &route.RouteAction{
		ClusterSpecifier: &route.RouteAction_WeightedClusters{WeightedClusters: wc},
	}}
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

func clusterRoute(m *route.RouteMatch, cluster, name string) *route.Route {
	return &route.Route{Name: name, Match: m, Action: clusterAction(cluster)}
}

func clusterAction(cluster string) *route.Route_Route {
	return &route.Route_Route{Route: &route.RouteAction{
		ClusterSpecifier: &route.RouteAction_Cluster{Cluster: cluster},
	}}
}
