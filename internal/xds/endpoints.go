package xds

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/halyard-mesh/halyard/internal/registry"
)

// endpoints builds one ClusterLoadAssignment per outbound EDS cluster (an
// ORIGINAL_DST or DNS cluster has none: a DNS cluster's endpoints are in
// its own load_assignment). A subset cluster holds the endpoints whose
// labels match the subset's.
func (g *generator) endpoints() []types.Resource {
	var out []types.Resource
	for i := range g.outbound {
		c := &g.outbound[i]
		if !c.eds() {
			continue
		}
		out = append(out, g.loadAssignment(c.name, c.svc.Namespace, g.clusterEndpoints(c)))
	}
	return out
}

// clusterEndpoints are the service port's endpoints that belong to the
// cluster: for a subset's cluster, those whose labels match the subset's.
func (g *generator) clusterEndpoints(c *outboundCluster) []registry.Endpoint {
	var eps []registry.Endpoint
	for _, ep := range g.model.Endpoints(c.svc.Hostname, c.port.Port) {
		if c.subset == nil || labelsMatch(c.subset.Labels, ep.Labels) {
			eps = append(eps, ep)
		}
	}
	return eps
}

// loadAssignment puts the endpoints in one locality; the locality has
// weight 1 (gRPC's xDS client needs it), each endpoint its ServiceEntry
// weight, else 1. A
// cluster without endpoints gets no locality.
func (g *generator) loadAssignment(name, namespace string, eps []registry.Endpoint) *endpoint.ClusterLoadAssignment {
	cla := &endpoint.ClusterLoadAssignment{ClusterName: name}
	if len(eps) == 0 {
		return cla
	}
	loc := &endpoint.LocalityLbEndpoints{
		Locality:            &core.Locality{},
		LoadBalancingWeight: wrapperspb.UInt32(1),
	}
	for _, ep := range eps {
		md := workloadMetadata(podNamed(g.model, namespace, ep.Pod))
		if ep.Sidecar {
			md = tlsMetadata(md) // mtls.go
		}
		loc.LbEndpoints = append(loc.LbEndpoints, &endpoint.LbEndpoint{
			HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{
				Address: socketAddressOf(ep.Address, ep.Port),
			}},
			LoadBalancingWeight: wrapperspb.UInt32(max(ep.Weight, 1)),
			Metadata:            md,
		})
	}
	cla.Endpoints = []*endpoint.LocalityLbEndpoints{loc}
	return cla
}
