package xds

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/halyard-mesh/halyard/internal/config"
)

// mirrorPolicies translates mirror (with mirrorPercentage, or the
// deprecated mirrorPercent) and mirrors[] into request_mirror_policies, in
// that order, as Istio does: the mirror's cluster is named like a route
// destination's, the fraction is runtime_fraction.default_value (100% when
// no percentage is given, none at all for an explicit 0), and trace_sampled
// is false.
func (g *generator) mirrorPolicies(vs *config.VirtualService, rule *networking.HTTPRoute, port uint32) []*route.RouteAction_RequestMirrorPolicy {
	var out []*route.RouteAction_RequestMirrorPolicy
	if rule.Mirror != nil {
		if pct := mirrorFraction(rule.MirrorPercentage, rule.MirrorPercent); pct != nil { //nolint:staticcheck // deprecated but honoured
			out = append(out, mirrorPolicy(g.destinationCluster(vs, rule.Mirror, port), pct))
		}
	}
	for _, m := range rule.Mirrors {
		if m.GetDestination() == nil {
			continue
		}
		if pct := mirrorFraction(m.Percentage, nil); pct != nil {
			out = append(out, mirrorPolicy(g.destinationCluster(vs, m.Destination, port), pct))
		}
	}
	return out
}

func mirrorPolicy(cluster string, pct *core.RuntimeFractionalPercent) *route.RouteAction_RequestMirrorPolicy {
	return &route.RouteAction_RequestMirrorPolicy{
		Cluster:         cluster,
		RuntimeFraction: pct,
		TraceSampled:    wrapperspb.Bool(false),
	}
}

// mirrorFraction is the share of requests to mirror: the percentage (per
// million), else the deprecated integer percent (per hundred), else 100%;
// nil when the given value is 0.
func mirrorFraction(percentage *networking.Percent, percent *wrapperspb.UInt32Value) *core.RuntimeFractionalPercent {
	switch {
	case percentage != nil:
		if percentage.GetValue() <= 0 {
			return nil
		}
		return &core.RuntimeFractionalPercent{DefaultValue: fractionalPercent(percentage)}
	case percent != nil:
		if percent.GetValue() == 0 {
			return nil
		}
		return &core.RuntimeFractionalPercent{DefaultValue: integerPercent(percent.GetValue())}
	}
	return &core.RuntimeFractionalPercent{DefaultValue: integerPercent(100)}
}
