package xds

import (
	"testing"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
)

func TestEffectivePolicy(t *testing.T) {
	lb := func(s networking.LoadBalancerSettings_SimpleLB) *networking.LoadBalancerSettings {
		return &networking.LoadBalancerSettings{LbPolicy: &networking.LoadBalancerSettings_Simple{Simple: s}}
	}
	pool := func(n int32) *networking.ConnectionPoolSettings {
		return &networking.ConnectionPoolSettings{Tcp: &networking.ConnectionPoolSettings_TCPSettings{MaxConnections: n}}
	}
	od := &networking.OutlierDetection{MaxEjectionPercent: 20}
	port := func(n uint32, p *networking.TrafficPolicy_PortTrafficPolicy) *networking.TrafficPolicy_PortTrafficPolicy {
		p.Port = &networking.PortSelector{Number: n}
		return p
	}
	top := &networking.TrafficPolicy{
		LoadBalancer: lb(networking.LoadBalancerSettings_RANDOM), ConnectionPool: pool(10), OutlierDetection: od,
		PortLevelSettings: []*networking.TrafficPolicy_PortTrafficPolicy{port(81, &networking.TrafficPolicy_PortTrafficPolicy{ConnectionPool: pool(1)})},
	}
	for _, tc := range []struct {
		name        string
		top, subset *networking.TrafficPolicy
		port        uint32
		want        *networking.TrafficPolicy
	}{
		{name: "none", port: 80},
		{name: "top level", top: top, port: 80,
			want: &networking.TrafficPolicy{LoadBalancer: top.LoadBalancer, ConnectionPool: pool(10), OutlierDetection: od}},
		{name: "top port-level replaces everything", top: top, port: 81,
			want: &networking.TrafficPolicy{ConnectionPool: pool(1)}},
		{name: "subset component overrides", top: top, port: 80,
			subset: &networking.TrafficPolicy{LoadBalancer: lb(networking.LoadBalancerSettings_LEAST_REQUEST)},
			want:   &networking.TrafficPolicy{LoadBalancer: lb(networking.LoadBalancerSettings_LEAST_REQUEST), ConnectionPool: pool(10), OutlierDetection: od}},
		{name: "subset over top port-level", top: top, port: 81,
			subset: &networking.TrafficPolicy{OutlierDetection: od},
			want:   &networking.TrafficPolicy{ConnectionPool: pool(1), OutlierDetection: od}},
		{name: "subset port-level replaces all four", top: top, port: 80,
			subset: &networking.TrafficPolicy{LoadBalancer: lb(networking.LoadBalancerSettings_LEAST_REQUEST),
				PortLevelSettings: []*networking.TrafficPolicy_PortTrafficPolicy{port(80, &networking.TrafficPolicy_PortTrafficPolicy{ConnectionPool: pool(2)})}},
			want: &networking.TrafficPolicy{ConnectionPool: pool(2)}},
		{name: "subset port-level on another port", top: top, port: 82,
			subset: &networking.TrafficPolicy{PortLevelSettings: []*networking.TrafficPolicy_PortTrafficPolicy{port(80, &networking.TrafficPolicy_PortTrafficPolicy{ConnectionPool: pool(2)})}},
			want:   &networking.TrafficPolicy{LoadBalancer: top.LoadBalancer, ConnectionPool: pool(10), OutlierDetection: od}},
		{name: "subset without top", port: 80, subset: &networking.TrafficPolicy{ConnectionPool: pool(3)},
			want: &networking.TrafficPolicy{ConnectionPool: pool(3)}},
	} {
		got := effectivePolicy(tc.top, tc.subset, tc.port)
		got = &networking.TrafficPolicy{LoadBalancer: got.GetLoadBalancer(), ConnectionPool: got.GetConnectionPool(),
			OutlierDetection: got.GetOutlierDetection(), Tls: got.GetTls()}
		want := tc.want
		if want == nil {
			want = &networking.TrafficPolicy{}
		}
		if !proto.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, want)
		}
	}
}
