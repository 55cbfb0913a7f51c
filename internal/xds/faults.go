package xds

import (
	commonfault "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/halyard-mesh/halyard/internal/config"
)

// FaultFilter is the HTTP fault injection filter's name: on every outbound
// HTTP connection manager, with an empty config, and configured per route
// in typed_per_filter_config.
const FaultFilter = "envoy.filters.http.fault"

// faultConfig translates a route's fault as Istio's TranslateFault: a
// fixed delay and an HTTP or gRPC abort, each with its percentage as a
// FractionalPercent (per million; no percentage is 0%: nothing injected).
// The deprecated integer delay.percent is used when percentage is not set.
// Exponential delays and HTTP/2 aborts, which Istio's validation rejects,
// are left out; nil when nothing is left.
func faultConfig(in *networking.HTTPFaultInjection) *faultv3.HTTPFault {
	out := &faultv3.HTTPFault{Delay: faultDelay(in.GetDelay()), Abort: faultAbort(in.GetAbort())}
	if out.Delay == nil && out.Abort == nil {
		return nil
	}
	return out
}

func faultDelay(d *networking.HTTPFaultInjection_Delay) *commonfault.FaultDelay {
	fixed := d.GetFixedDelay()
	if fixed == nil {
		return nil
	}
	pct := integerPercent(uint32(max(d.GetPercent(), 0))) //nolint:staticcheck // deprecated but honoured, as Istio does
	if d.Percentage != nil {
		pct = fractionalPercent(d.Percentage)
	}
	return &commonfault.FaultDelay{
		FaultDelaySecifier: &commonfault.FaultDelay_FixedDelay{FixedDelay: fixed},
		Percentage:         pct,
	}
}

func faultAbort(a *networking.HTTPFaultInjection_Abort) *faultv3.FaultAbort {
	out := &faultv3.FaultAbort{}
	switch t := a.GetErrorType().(type) {
	case *networking.HTTPFaultInjection_Abort_HttpStatus:
		out.ErrorType = &faultv3.FaultAbort_HttpStatus{HttpStatus: uint32(t.HttpStatus)}
	case *networking.HTTPFaultInjection_Abort_GrpcStatus:
		code, ok := config.GRPCStatusCode(t.GrpcStatus)
		if !ok {
			return nil
		}
		out.ErrorType = &faultv3.FaultAbort_GrpcStatus{GrpcStatus: code}
	default:
		return nil
	}
	if a.Percentage != nil {
		out.Percentage = fractionalPercent(a.Percentage)
	}
	return out
}

// fractionalPercent converts an Istio Percent (a double, 0-100) to parts
// per million, as Istio does (truncating below 0.0001%).
func fractionalPercent(p *networking.Percent) *typev3.FractionalPercent {
	return &typev3.FractionalPercent{
		Numerator:   uint32(p.GetValue() * 10000),
		Denominator: typev3.FractionalPercent_MILLION,
	}
}

// integerPercent is a whole percentage over a HUNDRED denominator.
func integerPercent(p uint32) *typev3.FractionalPercent {
	return &typev3.FractionalPercent{Numerator: p, Denominator: typev3.FractionalPercent_HUNDRED}
}
