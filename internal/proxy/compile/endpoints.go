package compile

import (
	"errors"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

// Endpoints compiles an EDS resource set into endpoint lists by
// cluster_name (the EDS service name).
func Endpoints(res []*endpointv3.ClusterLoadAssignment) (map[string][]upstream.EndpointConfig, error) {
	return EndpointsFrom(SliceSeq(res))
}

// EndpointsFrom is Endpoints over a sequence of resources.
func EndpointsFrom(res Seq[*endpointv3.ClusterLoadAssignment]) (map[string][]upstream.EndpointConfig, error) {
	out := map[string][]upstream.EndpointConfig{}
	err := res(func(cla *endpointv3.ClusterLoadAssignment) error {
		eps, err := lbEndpoints(cla)
		if err != nil {
			return &Error{Kind: "endpoints", Name: cla.GetClusterName(), Err: err}
		}
		out[cla.GetClusterName()] = eps
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lbEndpoints returns the usable endpoints of the highest priority (lowest
// number) that has any. Unhealthy, draining and timed-out endpoints are left
// out, as Envoy does.
func lbEndpoints(cla *endpointv3.ClusterLoadAssignment) ([]upstream.EndpointConfig, error) {
	byPrio := map[uint32][]upstream.EndpointConfig{}
	for _, loc := range cla.GetEndpoints() {
		for _, lbe := range loc.GetLbEndpoints() {
			ep := lbe.GetEndpoint()
			if ep == nil {
				return nil, errors.New("only endpoint (not endpoint_name) is supported")
			}
			switch lbe.GetHealthStatus() {
			case corev3.HealthStatus_UNHEALTHY, corev3.HealthStatus_DRAINING, corev3.HealthStatus_TIMEOUT:
				continue
			}
			addr, err := socketAddress(ep.GetAddress())
			if err != nil {
				return nil, fmt.Errorf("endpoint: %w", err)
			}
			w := uint32(1)
			if lw := lbe.GetLoadBalancingWeight(); lw != nil {
				if lw.GetValue() == 0 {
					return nil, fmt.Errorf("endpoint %s: load_balancing_weight must be at least 1", addr)
				}
				w = lw.GetValue()
			}
			byPrio[loc.GetPriority()] = append(byPrio[loc.GetPriority()], upstream.EndpointConfig{Address: addr, Weight: w,
				Workload: endpointWorkload(lbe.GetMetadata()), MTLS: endpointMTLS(lbe.GetMetadata())})
		}
	}
	var best []upstream.EndpointConfig
	bestPrio := ^uint32(0)
	for p, eps := range byPrio {
		if p <= bestPrio {
			best, bestPrio = eps, p
		}
	}
	return best, nil
}

// endpointMTLS reports whether an endpoint's metadata says it has a sidecar
// (filter_metadata["envoy.transport_socket_match"].tlsMode "istio").
func endpointMTLS(md *corev3.Metadata) bool {
	return md.GetFilterMetadata()[TransportSocketMatchKey].GetFields()["tlsMode"].GetStringValue() == TLSModeIstio
}
