package xds

import (
	"fmt"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/types/known/durationpb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/halyard-mesh/halyard/internal/registry"
)

// ConnectTimeout is Istio's default cluster connect timeout.
const ConnectTimeout = 10 * time.Second

// DNSRefreshRate is how often a DNS cluster's names are resolved again
// (Istio's default mesh dnsRefreshRate); the DNS's TTL is respected too.
const DNSRefreshRate = 60 * time.Second

// httpProtocolOptionsKey is where a cluster's upstream HTTP options go.
const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// outboundCluster is one outbound cluster: a service port, or a subset of
// it, with the traffic policy merged for that port and subset.
type outboundCluster struct {
	name   string
	svc    *registry.Service
	port   registry.Port
	subset *networking.Subset        // nil for the service port's own cluster
	policy *networking.TrafficPolicy // nil: no DestinationRule policy
}

// eds says whether the cluster takes its endpoints from EDS: every outbound
// cluster of a Kubernetes Service or STATIC ServiceEntry, unless its load
// balancer is PASSTHROUGH.
func (c *outboundCluster) eds() bool {
	return c.svc.Resolution == registry.Listed &&
		c.policy.GetLoadBalancer().GetSimple() != networking.LoadBalancerSettings_PASSTHROUGH
}

// outboundClusters lists, without duplicates, the clusters of every
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
	for _, svc := range g.services {
		dr := g.destinationRuleFor(svc)
		for _, p := range svc.Ports {
			c := outboundCluster{name: OutboundClusterName(p.Port, "", svc.Hostname), svc: svc, port: p}
			if dr == nil {
				add(c)
				continue
			}
			c.policy = effectivePolicy(dr.policy, nil, p.Port)
			add(c)
			for _, s := range dr.subsets {
				add(outboundCluster{
					name:   OutboundClusterName(p.Port, s.Name, svc.Hostname),
					svc:    svc,
					port:   p,
					subset: s,
					policy: effectivePolicy(dr.policy, s.TrafficPolicy, p.Port),
				})
			}
		}
	}
	return out
}

// clusters builds the outbound clusters, the proxy's inbound clusters,
// PassthroughCluster and BlackHoleCluster.
func (g *generator) clusters() ([]types.Resource, error) {
	pod, err := g.podClusters()
	if err != nil {
		return nil, err
	}
	return append(g.sharedClusters(), pod...), nil
}

// sharedClusters are the outbound clusters, PassthroughCluster and
// BlackHoleCluster: alike for every proxy of the same class.
func (g *generator) sharedClusters() []types.Resource {
	var out []types.Resource
	for i := range g.outbound {
		c := &g.outbound[i]
		oc := buildOutboundCluster(c)
		if oc.GetType() == cluster.Cluster_STRICT_DNS || oc.GetType() == cluster.Cluster_LOGICAL_DNS {
			oc.LoadAssignment = g.loadAssignment(c.name, c.svc.Namespace, g.clusterEndpoints(c)) // endpoints.go
		}
		h2 := upstreamHTTP2(c.port.Protocol, c.policy.GetConnectionPool(), true)
		switch {
		case originatesTLS(c.policy): // origination.go
			oc.TransportSocket = originationSocket(c.policy.GetTls(), c.svc, h2 && c.port.Protocol.IsHTTP())
		case c.eds() && autoMTLS(c.policy): // mtls.go
			oc.TransportSocketMatches = transportSocketMatches(g.serviceSANs(c.svc, c.port.Port), c.port.Protocol, h2)
		}
		out = append(out, oc)
	}
	passthrough := &cluster.Cluster{
		Name:                 PassthroughCluster,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_ORIGINAL_DST},
		LbPolicy:             cluster.Cluster_CLUSTER_PROVIDED,
	}
	applyConnectionPool(passthrough, nil)
	return append(out, passthrough, &cluster.Cluster{
		Name:                 BlackHoleCluster,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(ConnectTimeout),
	})
}

// podClusters are the inbound clusters to the pod's own application.
func (g *generator) podClusters() ([]types.Resource, error) {
	var out []types.Resource
	for _, pp := range g.pod.Ports {
		if pp.InboundAddress == "" {
			continue
		}
		proto, pool := g.inboundSettings(pp)
		c, err := inboundCluster(pp, proto, pool)
		if err != nil {
			return nil, fmt.Errorf("xds: pod %s/%s port %d: app address: %w", g.pod.Namespace, g.pod.Name, pp.ContainerPort, err)
		}
		c.Metadata = serviceMetadata(g.servicesTargeting(pp))
		out = append(out, c)
	}
	return out, nil
}

// buildOutboundCluster applies the merged policy in Istio's order:
// connection pool, HTTP protocol options, outlier detection, load balancer.
// The discovery type follows the service's resolution, as Istio's: EDS for
// listed endpoints, ORIGINAL_DST for NONE, STRICT_DNS for DNS and
// LOGICAL_DNS for DNS_ROUND_ROBIN (their load_assignment is added by the
// caller); an ORIGINAL_DST cluster's load balancer is CLUSTER_PROVIDED
// whatever the DestinationRule says.
func buildOutboundCluster(c *outboundCluster) *cluster.Cluster {
	out := &cluster.Cluster{
		Name:     c.name,
		Metadata: serviceMetadata([]*registry.Service{c.svc}),
	}
	switch c.svc.Resolution {
	case registry.Passthrough:
		out.ClusterDiscoveryType = &cluster.Cluster_Type{Type: cluster.Cluster_ORIGINAL_DST}
	case registry.DNS, registry.DNSRoundRobin:
		t := cluster.Cluster_STRICT_DNS
		if c.svc.Resolution == registry.DNSRoundRobin {
			t = cluster.Cluster_LOGICAL_DNS
		}
		out.ClusterDiscoveryType = &cluster.Cluster_Type{Type: t}
		out.DnsRefreshRate = durationpb.New(DNSRefreshRate)
		out.RespectDnsTtl = true
		out.DnsLookupFamily = cluster.Cluster_V4_ONLY // pods are IPv4, as Istio's on a single-stack cluster
	default:
		out.ClusterDiscoveryType = &cluster.Cluster_Type{Type: cluster.Cluster_EDS}
		out.EdsClusterConfig = &cluster.Cluster_EdsClusterConfig{
			EdsConfig:   adsConfigSource(),
			ServiceName: c.name,
		}
	}
	pool := c.policy.GetConnectionPool()
	applyConnectionPool(out, pool)
	out.TypedExtensionProtocolOptions = protocolOptions(upstreamHTTP2(c.port.Protocol, pool, true), pool)
	applyOutlierDetection(out, c.policy.GetOutlierDetection())
	applyLoadBalancer(out, c.policy.GetLoadBalancer())
	if out.GetType() == cluster.Cluster_ORIGINAL_DST {
		out.LbPolicy = cluster.Cluster_CLUSTER_PROVIDED
		out.LbConfig = nil
		out.DnsRefreshRate, out.RespectDnsTtl, out.DnsLookupFamily = nil, false, cluster.Cluster_AUTO
	}
	return out
}

// inboundSettings returns the protocol of a pod port and the connection
// pool that applies to its inbound cluster: like Istio, the
// inboundConnectionPool of the Sidecar that applies to the pod, else the
// top-level (or port-level) connection pool of the DestinationRule for the
// first service (by hostname) whose target port it is, so that a server
// accepts the load its clients were allowed. A port no service targets is
// Unsupported, which is routed as HTTP.
func (g *generator) inboundSettings(pp registry.PodPort) (registry.Protocol, *networking.ConnectionPoolSettings) {
	var sidecarPool *networking.ConnectionPoolSettings
	if sc := g.sidecarFor(); sc != nil { // transparent.go
		sidecarPool = sc.Spec.GetInboundConnectionPool()
	}
	for _, svc := range g.model.ServicesOf(g.pod) {
		for _, p := range svc.Ports {
			if tp, ok := registry.TargetPort(g.pod, p); ok && tp.ContainerPort == pp.ContainerPort {
				if sidecarPool != nil {
					return p.Protocol, sidecarPool
				}
				var pool *networking.ConnectionPoolSettings
				if dr := g.destinationRuleFor(svc); dr != nil {
					pool = effectivePolicy(dr.policy, nil, p.Port).GetConnectionPool()
				}
				return p.Protocol, pool
			}
		}
	}
	return registry.Unsupported, sidecarPool
}

func inboundCluster(pp registry.PodPort, proto registry.Protocol, pool *networking.ConnectionPoolSettings) (*cluster.Cluster, error) {
	addr, err := socketAddress(pp.AppAddress)
	if err != nil {
		return nil, err
	}
	name := InboundClusterName(pp.ContainerPort)
	c := &cluster.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC},
		LoadAssignment: &endpoint.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpoint.LocalityLbEndpoints{{
				LbEndpoints: []*endpoint.LbEndpoint{{
					HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{Address: addr}},
				}},
			}},
		},
	}
	applyConnectionPool(c, pool)
	c.TypedExtensionProtocolOptions = protocolOptions(upstreamHTTP2(proto, pool, false), pool)
	return c, nil
}
