package xds

import (
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
)

// defaultRingSize is the ring size Istio sets for consistentHash without a
// ringHash or maglev block (Envoy's default).
const defaultRingSize = 1024

// applyLoadBalancer sets a cluster's lb_policy from the merged load
// balancer settings, as Istio's applyLoadBalancer: LEAST_REQUEST (and its
// alias LEAST_CONN), RANDOM, ROUND_ROBIN; PASSTHROUGH makes the cluster
// ORIGINAL_DST with lb_policy CLUSTER_PROVIDED and no EDS; consistentHash
// is RING_HASH (ring_hash_lb_config.minimum_ring_size: ringHash's, else
// the deprecated minimumRingSize, else 1024) or MAGLEV
// (maglev_lb_config.table_size). Nothing set is ROUND_ROBIN, Halyard's
// default (Istio's is LEAST_REQUEST).
func applyLoadBalancer(c *cluster.Cluster, lb *networking.LoadBalancerSettings) {
	switch lb.GetSimple() {
	case networking.LoadBalancerSettings_LEAST_REQUEST, networking.LoadBalancerSettings_LEAST_CONN:
		c.LbPolicy = cluster.Cluster_LEAST_REQUEST
	case networking.LoadBalancerSettings_RANDOM:
		c.LbPolicy = cluster.Cluster_RANDOM
	case networking.LoadBalancerSettings_PASSTHROUGH:
		c.ClusterDiscoveryType = &cluster.Cluster_Type{Type: cluster.Cluster_ORIGINAL_DST}
		c.EdsClusterConfig = nil
		c.LbPolicy = cluster.Cluster_CLUSTER_PROVIDED
	default:
		c.LbPolicy = cluster.Cluster_ROUND_ROBIN
	}
	applyConsistentHash(c, lb.GetConsistentHash())
}

func applyConsistentHash(c *cluster.Cluster, ch *networking.LoadBalancerSettings_ConsistentHashLB) {
	switch {
	case ch == nil:
	case ch.GetMaglev() != nil:
		c.LbPolicy = cluster.Cluster_MAGLEV
		if size := ch.GetMaglev().GetTableSize(); size != 0 {
			c.LbConfig = &cluster.Cluster_MaglevLbConfig_{MaglevLbConfig: &cluster.Cluster_MaglevLbConfig{
				TableSize: wrapperspb.UInt64(size),
			}}
		}
	case ch.GetRingHash() != nil:
		c.LbPolicy = cluster.Cluster_RING_HASH
		if size := ch.GetRingHash().GetMinimumRingSize(); size != 0 {
			c.LbConfig = ringHashConfig(size)
		}
	default:
		size := uint64(defaultRingSize)
		if ch.MinimumRingSize != 0 { //nolint:staticcheck // deprecated but honoured, as Istio does
			size = ch.MinimumRingSize //nolint:staticcheck
		}
		c.LbPolicy = cluster.Cluster_RING_HASH
		c.LbConfig = ringHashConfig(size)
	}
}

func ringHashConfig(size uint64) *cluster.Cluster_RingHashLbConfig_ {
	return &cluster.Cluster_RingHashLbConfig_{RingHashLbConfig: &cluster.Cluster_RingHashLbConfig{
		MinimumRingSize: wrapperspb.UInt64(size),
	}}
}

// routeHashPolicy is the route hash policy that feeds a consistent-hash
// cluster, as Istio's consistentHashToHashPolicy: a header, a cookie (with
// its path and ttl; with a ttl Envoy sets the cookie when the request has
// none), the source IP or a query parameter. nil without consistent hashing
// or without a hash key.
func routeHashPolicy(lb *networking.LoadBalancerSettings) *route.RouteAction_HashPolicy {
	ch := lb.GetConsistentHash()
	switch ch.GetHashKey().(type) {
	case *networking.LoadBalancerSettings_ConsistentHashLB_HttpHeaderName:
		return &route.RouteAction_HashPolicy{PolicySpecifier: &route.RouteAction_HashPolicy_Header_{
			Header: &route.RouteAction_HashPolicy_Header{HeaderName: ch.GetHttpHeaderName()},
		}}
	case *networking.LoadBalancerSettings_ConsistentHashLB_HttpCookie:
		c := ch.GetHttpCookie()
		return &route.RouteAction_HashPolicy{PolicySpecifier: &route.RouteAction_HashPolicy_Cookie_{
			Cookie: &route.RouteAction_HashPolicy_Cookie{Name: c.GetName(), Path: c.GetPath(), Ttl: c.GetTtl()},
		}}
	case *networking.LoadBalancerSettings_ConsistentHashLB_UseSourceIp:
		return &route.RouteAction_HashPolicy{PolicySpecifier: &route.RouteAction_HashPolicy_ConnectionProperties_{
			ConnectionProperties: &route.RouteAction_HashPolicy_ConnectionProperties{SourceIp: ch.GetUseSourceIp()},
		}}
	case *networking.LoadBalancerSettings_ConsistentHashLB_HttpQueryParameterName:
		return &route.RouteAction_HashPolicy{PolicySpecifier: &route.RouteAction_HashPolicy_QueryParameter_{
			QueryParameter: &route.RouteAction_HashPolicy_QueryParameter{Name: ch.GetHttpQueryParameterName()},
		}}
	}
	return nil
}

// sourceIPHashPolicy is tcp_proxy's hash_policy for useSourceIp.
func sourceIPHashPolicy() []*typev3.HashPolicy {
	return []*typev3.HashPolicy{{PolicySpecifier: &typev3.HashPolicy_SourceIp_{SourceIp: &typev3.HashPolicy_SourceIp{}}}}
}
