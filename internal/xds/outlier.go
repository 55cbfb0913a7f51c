package xds

import (
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
)

// applyOutlierDetection translates outlierDetection as Istio's
// applyOutlierDetection. Success-rate ejection is off
// (enforcing_success_rate 0). The deprecated consecutiveErrors gives
// consecutive_gateway_failure enforced at 100 and turns consecutive 5xx
// ejection off (enforcing 0). consecutive5xxErrors and
// consecutiveGatewayErrors, when set, give consecutive_5xx and
// consecutive_gateway_failure with enforcing 100, or 0 when the value is 0
// (off); when not set, Envoy's defaults apply (5 consecutive 5xx enforced,
// gateway failures not enforced). interval, baseEjectionTime and
// maxEjectionPercent (when > 0) are copied. splitExternalLocalOriginErrors
// sets split_external_local_origin_errors, turns local-origin success rate
// off, and consecutiveLocalOriginFailures (when > 0) gives
// consecutive_local_origin_failure enforced at 100. minHealthPercent (0
// when not set) is common_lb_config.healthy_panic_threshold: Istio turns
// Envoy's 50% panic mode off unless asked.
func applyOutlierDetection(c *cluster.Cluster, od *networking.OutlierDetection) {
	if od == nil {
		return
	}
	out := &cluster.OutlierDetection{
		EnforcingSuccessRate: wrapperspb.UInt32(0),
		Interval:             od.Interval,
		BaseEjectionTime:     od.BaseEjectionTime,
	}
	if n := od.ConsecutiveErrors; n > 0 { //nolint:staticcheck // deprecated but honoured, as Istio does
		// Istio: the deprecated field counts gateway errors (502, 503,
		// 504) only, and turns consecutive 5xx ejection off.
		out.ConsecutiveGatewayFailure, out.EnforcingConsecutiveGatewayFailure = wrapperspb.UInt32(uint32(n)), wrapperspb.UInt32(100)
		out.EnforcingConsecutive_5Xx = wrapperspb.UInt32(0)
	}
	if e := od.Consecutive_5XxErrors; e != nil {
		out.Consecutive_5Xx, out.EnforcingConsecutive_5Xx = wrapperspb.UInt32(e.GetValue()), enforcing(e.GetValue())
	}
	if e := od.ConsecutiveGatewayErrors; e != nil {
		out.ConsecutiveGatewayFailure, out.EnforcingConsecutiveGatewayFailure = wrapperspb.UInt32(e.GetValue()), enforcing(e.GetValue())
	}
	if od.MaxEjectionPercent > 0 {
		out.MaxEjectionPercent = wrapperspb.UInt32(uint32(od.MaxEjectionPercent))
	}
	if od.SplitExternalLocalOriginErrors {
		out.SplitExternalLocalOriginErrors = true
		out.EnforcingLocalOriginSuccessRate = wrapperspb.UInt32(0)
		if n := od.ConsecutiveLocalOriginFailures.GetValue(); n > 0 {
			out.ConsecutiveLocalOriginFailure = wrapperspb.UInt32(n)
			out.EnforcingConsecutiveLocalOriginFailure = wrapperspb.UInt32(100)
		}
	}
	c.OutlierDetection = out
	if od.MinHealthPercent >= 0 {
		c.CommonLbConfig = &cluster.Cluster_CommonLbConfig{
			HealthyPanicThreshold: &typev3.Percent{Value: float64(od.MinHealthPercent)},
		}
	}
}

// enforcing is 100 (%) for a detector that is on, 0 for one that is off.
func enforcing(threshold uint32) *wrapperspb.UInt32Value {
	if threshold > 0 {
		return wrapperspb.UInt32(100)
	}
	return wrapperspb.UInt32(0)
}
