package xds

import (
	networking "istio.io/api/networking/v1alpha3"
)

// effectivePolicy is the traffic policy of one port of a (subset) cluster,
// merged as Istio merges it (util.MergeSubsetTrafficPolicy):
//
//   - the top-level policy, or its port-level setting for the port, which
//     replaces the whole policy (connection pool, load balancer, outlier
//     detection and TLS: what it leaves out is the default, not inherited);
//   - then the subset's policy: each of its components that is set replaces
//     the merged one, and its own port-level setting for the port, when
//     there is one, replaces all four components, even with nothing.
//
// nil means no policy at all (Istio's defaults).
func effectivePolicy(top, subset *networking.TrafficPolicy, port uint32) *networking.TrafficPolicy {
	top, _ = portPolicy(top, port)
	if subset == nil {
		return top
	}
	sub, portLevel := portPolicy(subset, port)
	if top == nil {
		return sub
	}
	merged := &networking.TrafficPolicy{
		ConnectionPool:   top.ConnectionPool,
		LoadBalancer:     top.LoadBalancer,
		OutlierDetection: top.OutlierDetection,
		Tls:              top.Tls,
		Tunnel:           top.Tunnel,
		ProxyProtocol:    top.ProxyProtocol,
	}
	if sub.ConnectionPool != nil || portLevel {
		merged.ConnectionPool = sub.ConnectionPool
	}
	if sub.LoadBalancer != nil || portLevel {
		merged.LoadBalancer = sub.LoadBalancer
	}
	if sub.OutlierDetection != nil || portLevel {
		merged.OutlierDetection = sub.OutlierDetection
	}
	if sub.Tls != nil || portLevel {
		merged.Tls = sub.Tls
	}
	if sub.Tunnel != nil {
		merged.Tunnel = sub.Tunnel
	}
	if sub.ProxyProtocol != nil {
		merged.ProxyProtocol = sub.ProxyProtocol
	}
	return merged
}

// portPolicy returns the port-level setting of a policy for the port as a
// policy of its own (and true), or the policy itself (and false).
func portPolicy(p *networking.TrafficPolicy, port uint32) (*networking.TrafficPolicy, bool) {
	for _, pl := range p.GetPortLevelSettings() {
		if pl.GetPort() != nil && pl.GetPort().GetNumber() == port {
			return &networking.TrafficPolicy{
				ConnectionPool:   pl.ConnectionPool,
				LoadBalancer:     pl.LoadBalancer,
				OutlierDetection: pl.OutlierDetection,
				Tls:              pl.Tls,
			}, true
		}
	}
	return p, false
}
