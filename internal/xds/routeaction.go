package xds

import (
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/halyard-mesh/halyard/internal/config"
)

// httpRoute translates one http rule for one of its matches (nil: the rule
// has none and matches every request), as Istio's translateRoute: the
// rule's headers on the route, then a redirect, a direct response or a
// forwarding action, then the fault and CORS per-route configs. nil when
// the rule cannot be translated (a redirect code Envoy has no enum for).
func (g *generator) httpRoute(vs *config.VirtualService, rule *networking.HTTPRoute, m *networking.HTTPMatchRequest, port uint32) *route.Route {
	r := &route.Route{Name: rule.Name, Match: prefixMatch("/")}
	if m != nil {
		r.Name, r.Match = routeName(rule.Name, m.Name), routeMatch(m)
	}
	ops := headerOperations(rule.Headers)
	r.RequestHeadersToAdd, r.RequestHeadersToRemove = ops.requestAdd, ops.requestRemove
	r.ResponseHeadersToAdd, r.ResponseHeadersToRemove = ops.responseAdd, ops.responseRemove
	switch {
	case rule.Redirect != nil:
		a := redirectAction(rule.Redirect, port)
		if a == nil {
			return nil
		}
		r.Action = a
	case rule.DirectResponse != nil:
		r.Action = directResponseAction(rule.DirectResponse)
	default:
		r.Action = &route.Route_Route{Route: g.forwardAction(vs, rule, r, port, ops.authority)}
	}
	r.TypedPerFilterConfig = perFilterConfig(rule)
	return r
}

// forwardAction is the action of a rule that routes to destinations:
// timeout (0s, no timeout, when not set, as Istio sets on every route) and
// max_grpc_timeout (the same: gRPC requests honour grpc-timeout up to it),
// the rewrites, the authority rewrite (rewrite.authority, else a request
// header set/add of :authority or host), mirrors, destinations and the
// retry policy.
func (g *generator) forwardAction(vs *config.VirtualService, rule *networking.HTTPRoute, r *route.Route, port uint32, authority string) *route.RouteAction {
	a := &route.RouteAction{Timeout: routeTimeout(rule.Timeout), MaxGrpcTimeout: routeTimeout(rule.Timeout)}
	if rw := rule.Rewrite; rw != nil {
		applyPathRewrite(a, rw)
		if rw.Authority != "" {
			authority = rw.Authority
		}
	}
	if authority != "" {
		a.HostRewriteSpecifier = &route.RouteAction_HostRewriteLiteral{HostRewriteLiteral: authority}
	}
	a.RequestMirrorPolicies = g.mirrorPolicies(vs, rule, port)
	hashed := g.applyDestinations(vs, rule.Route, r, a, port)
	a.RetryPolicy = retryPolicy(rule.Retries, hashed)
	return a
}

func routeTimeout(d *durationpb.Duration) *durationpb.Duration {
	if d == nil {
		return durationpb.New(0)
	}
	return proto.Clone(d).(*durationpb.Duration)
}

// applyPathRewrite sets regex_rewrite (uriRegexRewrite) or prefix_rewrite
// (uri). Envoy's prefix_rewrite replaces what the route matched: the prefix
// of a prefix match, the whole path of an exact or regex match (and "/" of
// a rule without match, so uri "/v2" turns "/a" into "/v2a", as in Istio).
func applyPathRewrite(a *route.RouteAction, rw *networking.HTTPRewrite) {
	if rr := rw.GetUriRegexRewrite(); rr != nil {
		a.RegexRewrite = &matcher.RegexMatchAndSubstitute{
			Pattern:      &matcher.RegexMatcher{Regex: rr.Match},
			Substitution: rr.Rewrite,
		}
		return
	}
	if rw.Uri != "" {
		a.PrefixRewrite = rw.Uri
	}
}

// applyDestinations sets the cluster (one destination) or the weighted
// clusters, the destinations' header operations and the hash policies of
// the consistent-hash clusters among them. It reports whether the route
// has a single destination with consistent hashing (Istio then leaves the
// previous_hosts retry predicate out).
func (g *generator) applyDestinations(vs *config.VirtualService, dests []*networking.HTTPRouteDestination, r *route.Route, a *route.RouteAction, port uint32) bool {
	kept := keptDestinations(dests)
	if len(kept) == 1 {
		name := g.destinationCluster(vs, kept[0].Destination, port)
		a.ClusterSpecifier = &route.RouteAction_Cluster{Cluster: name}
		applySingleDestinationHeaders(r, a, kept[0].Headers)
		if hp := g.hashPolicy(name); hp != nil {
			a.HashPolicy = []*route.RouteAction_HashPolicy{hp}
			return true
		}
		return false
	}
	wc := &route.WeightedCluster{}
	for _, d := range kept {
		cw := &route.WeightedCluster_ClusterWeight{
			Name:   g.destinationCluster(vs, d.Destination, port),
			Weight: wrapperspb.UInt32(uint32(d.Weight)),
		}
		applyWeightedHeaders(cw, d.Headers)
		wc.Clusters = append(wc.Clusters, cw)
		if hp := g.hashPolicy(cw.Name); hp != nil && !containsProto(a.HashPolicy, hp) {
			a.HashPolicy = append(a.HashPolicy, hp)
		}
	}
	a.ClusterSpecifier = &route.RouteAction_WeightedClusters{WeightedClusters: wc}
	return false
}

// keptDestinations applies the weights as Halyard always has: zero-weight
// destinations are dropped when there are others; all weights zero (which
// validation only allows for a single destination) is an even split.
func keptDestinations(dests []*networking.HTTPRouteDestination) []*networking.HTTPRouteDestination {
	var kept []*networking.HTTPRouteDestination
	for _, d := range dests {
		if d != nil && (d.Weight > 0 || len(dests) == 1) {
			kept = append(kept, d)
		}
	}
	if len(kept) > 0 {
		return kept
	}
	for _, d := range dests {
		if d != nil {
			kept = append(kept, &networking.HTTPRouteDestination{Destination: d.Destination, Headers: d.Headers, Weight: 1})
		}
	}
	return kept
}

// applySingleDestinationHeaders appends a lone destination's header
// operations to the route's (after the rule's, so its set wins); its
// authority applies only when the rule rewrites none.
func applySingleDestinationHeaders(r *route.Route, a *route.RouteAction, h *networking.Headers) {
	if h == nil {
		return
	}
	ops := headerOperations(h)
	r.RequestHeadersToAdd = append(r.RequestHeadersToAdd, ops.requestAdd...)
	r.RequestHeadersToRemove = append(r.RequestHeadersToRemove, ops.requestRemove...)
	r.ResponseHeadersToAdd = append(r.ResponseHeadersToAdd, ops.responseAdd...)
	r.ResponseHeadersToRemove = append(r.ResponseHeadersToRemove, ops.responseRemove...)
	if ops.authority != "" && a.HostRewriteSpecifier == nil {
		a.HostRewriteSpecifier = &route.RouteAction_HostRewriteLiteral{HostRewriteLiteral: ops.authority}
	}
}

// applyWeightedHeaders puts a weighted destination's header operations and
// authority rewrite on its cluster weight.
func applyWeightedHeaders(cw *route.WeightedCluster_ClusterWeight, h *networking.Headers) {
	if h == nil {
		return
	}
	ops := headerOperations(h)
	cw.RequestHeadersToAdd, cw.RequestHeadersToRemove = ops.requestAdd, ops.requestRemove
	cw.ResponseHeadersToAdd, cw.ResponseHeadersToRemove = ops.responseAdd, ops.responseRemove
	if ops.authority != "" {
		cw.HostRewriteSpecifier = &route.WeightedCluster_ClusterWeight_HostRewriteLiteral{HostRewriteLiteral: ops.authority}
	}
}

// hashPolicy is the route hash policy for a cluster whose merged load
// balancer uses consistent hashing; nil otherwise (or for an unknown
// cluster).
func (g *generator) hashPolicy(cluster string) *route.RouteAction_HashPolicy {
	if c := g.byCluster[cluster]; c != nil {
		return routeHashPolicy(c.policy.GetLoadBalancer())
	}
	return nil
}

func containsProto[T proto.Message](list []T, m T) bool {
	for _, x := range list {
		if proto.Equal(x, m) {
			return true
		}
	}
	return false
}

// perFilterConfig holds the rule's fault (HTTPFault) and CORS (CorsPolicy)
// configs, keyed by filter name; nil when it has neither.
func perFilterConfig(rule *networking.HTTPRoute) map[string]*anypb.Any {
	out := map[string]*anypb.Any{}
	if f := faultConfig(rule.Fault); f != nil {
		out[FaultFilter] = toAny(f)
	}
	if rule.CorsPolicy != nil {
		out[CORSFilter] = toAny(corsPolicy(rule.CorsPolicy))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
