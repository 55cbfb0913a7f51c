package xds

import (
	"fmt"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/halyard-mesh/halyard/internal/registry"
)

// ConnectTimeout is Istio's default cluster connect timeout.
const ConnectTimeout = 10 * time.Second

// httpProtocolOptionsKey is where a cluster's upstream HTTP options go.
const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// outboundCluster is one EDS cluster: a service port, or a subset of it.
type outboundCluster struct {
	name   string
	svc    *registry.Service
	port   registry.Port
	subset *networking.Subset // nil for the service port's own cluster
	lb     *networking.LoadBalancerSettings
}

// outboundClusters lists, without duplicates, the EDS clusters of every
// service port and of every subset of the DestinationRule for each host.
func (g *generator) outboundClusters() []outboundCluster {
	var out []outboundCluster
	seen := map[string]bool{}
	add := func(c outboundCluster) {
		if !seen[c.name] {
			seen[c.name] = true
			out = append(out, c)
		}
	}
	for _, svc := range g.model.Services {
		dr := g.destinationRuleFor(svc)
		for _, p := range svc.Ports {
			c := outboundCluster{name: OutboundClusterName(p.Port, "", svc.Hostname), svc: svc, port: p}
			if dr == nil {
				add(c)
				continue
			}
			c.lb = loadBalancer(dr.policy, nil, p.Port)
			add(c)
			for _, s := range dr.subsets {
				add(outboundCluster{
					name:   OutboundClusterName(p.Port, s.Name, svc.Hostname),
					svc:    svc,
					port:   p,
					subset: s,
					lb:     loadBalancer(dr.policy, s.TrafficPolicy, p.Port),
				})
			}
		}
	}
	return out
}

// clusters builds the outbound EDS clusters, the proxy's inbound clusters,
// PassthroughCluster and BlackHoleCluster.
func (g *generator) clusters() ([]types.Resource, error) {
	var out []types.Resource
	for _, c := range g.outboundClusters() {
		out = append(out, edsCluster(c))
	}
	for _, pp := range g.pod.Ports {
		if pp.InboundAddress == "" {
			continue
		}
		c, err := inboundCluster(pp, g.inboundProtocol(pp))
		if err != nil {
			return nil, fmt.Errorf("xds: pod %s/%s port %d: app address: %w", g.pod.Namespace, g.pod.Name, pp.ContainerPort, err)
		}
		out = append(out, c)
	}
	out = append(out,
		&cluster.Cluster{
			Name:                 PassthroughCluster,
			ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_ORIGINAL_DST},
			ConnectTimeout:       durationpb.New(ConnectTimeout),
			LbPolicy:             cluster.Cluster_CLUSTER_PROVIDED,
		},
		&cluster.Cluster{
			Name:                 BlackHoleCluster,
			ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC},
			ConnectTimeout:       durationpb.New(ConnectTimeout),
		})
	return out, nil
}

func edsCluster(c outboundCluster) *cluster.Cluster {
	return &cluster.Cluster{
		Name:                 c.name,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS},
		EdsClusterConfig: &cluster.Cluster_EdsClusterConfig{
			EdsConfig:   adsConfigSource(),
			ServiceName: c.name,
		},
		ConnectTimeout:                durationpb.New(ConnectTimeout),
		LbPolicy:                      lbPolicy(c.lb),
		TypedExtensionProtocolOptions: protocolOptions(c.port.Protocol),
	}
}

func inboundCluster(pp registry.PodPort, proto registry.Protocol) (*cluster.Cluster, error) {
	addr, err := socketAddress(pp.AppAddress)
	if err != nil {
		return nil, err
	}
	name := InboundClusterName(pp.ContainerPort)
	return &cluster.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(ConnectTimeout),
		LoadAssignment: &endpoint.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpoint.LocalityLbEndpoints{{
				LbEndpoints: []*endpoint.LbEndpoint{{
					HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{Address: addr}},
				}},
			}},
		},
		TypedExtensionProtocolOptions: protocolOptions(proto),
	}, nil
}

// lbPolicy maps Istio's simple load balancer to Envoy's: LEAST_REQUEST
// (and its alias LEAST_CONN) and RANDOM; everything else, including
// consistent hashing, which Halyard does not implement, is ROUND_ROBIN.
func lbPolicy(lb *networking.LoadBalancerSettings) cluster.Cluster_LbPolicy {
	switch lb.GetSimple() {
	case networking.LoadBalancerSettings_LEAST_REQUEST, networking.LoadBalancerSettings_LEAST_CONN:
		return cluster.Cluster_LEAST_REQUEST
	case networking.LoadBalancerSettings_RANDOM:
		return cluster.Cluster_RANDOM
	}
	return cluster.Cluster_ROUND_ROBIN
}

// protocolOptions makes HTTP/2 and gRPC upstreams speak HTTP/2 (h2c).
func protocolOptions(p registry.Protocol) map[string]*anypb.Any {
	if !p.IsHTTP2() {
		return nil
	}
	opts := &httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &core.Http2ProtocolOptions{},
				},
			},
		},
	}
	return map[string]*anypb.Any{httpProtocolOptionsKey: toAny(opts)}
}
