package compile

import (
	"net/http/httptest"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
	x "github.com/halyard-mesh/halyard/internal/proxy/xdstest"
)

func TestListeners(t *testing.T) {
	ls := []*listenerv3.Listener{
		x.VirtualOutbound("127.0.0.1", 15001),
		x.OutboundHTTP(9080, "0.0.0.0_9080"),
		x.OutboundHTTP(8080, "0.0.0.0_8080"),
		x.Inbound("inbound|9080", "127.0.0.1", 16000, "inbound|9080||"),
	}
	cfgs, routes, err := Listeners(ls)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(routes, ",") != "8080,9080" {
		t.Errorf("route names %v", routes)
	}
	vo := cfgs[0]
	if !vo.ExplicitProxy || !vo.BindToPort || vo.TCP == nil || vo.TCP.Cluster != "PassthroughCluster" || vo.Address != "127.0.0.1:15001" {
		t.Errorf("virtualOutbound: %+v", vo)
	}
	o := cfgs[1]
	if o.BindToPort || o.HTTP == nil || o.HTTP.RouteConfigName != "9080" || !o.HTTP.GenerateRequestID || o.Address != "0.0.0.0:9080" {
		t.Errorf("0.0.0.0_9080: %+v", o)
	}
	in := cfgs[3]
	if !in.Inbound || in.HTTP == nil || in.HTTP.Routes == nil {
		t.Fatalf("inbound: %+v", in)
	}
	r := httptest.NewRequest("GET", "/anything", nil)
	if _, rt := in.HTTP.Routes.Match(r); rt == nil || rt.Action.Cluster != "inbound|9080||" {
		t.Errorf("inbound route: %+v", rt)
	}
}

func TestRoutes(t *testing.T) {
	rc := x.RouteConfig("9080",
		x.VirtualHost("reviews", "default", "9080",
			x.HeaderExact(x.PrefixRoute("/", "outbound|9080|v2|reviews.default.svc.cluster.local"), "end-user", "jason"),
			x.WeightedRoute("/", "outbound|9080|v1|reviews.default.svc.cluster.local", 95, "outbound|9080|v2|reviews.default.svc.cluster.local", 5),
		))
	tables, err := Routes([]*routev3.RouteConfiguration{rc})
	if err != nil {
		t.Fatal(err)
	}
	tb := tables["9080"]
	r := httptest.NewRequest("GET", "/reviews/0", nil)
	r.Host = "reviews:9080"
	r.Header.Set("end-user", "jason")
	if _, rt := tb.Match(r); rt == nil || rt.PickCluster() != "outbound|9080|v2|reviews.default.svc.cluster.local" {
		t.Errorf("jason route: %+v", rt)
	}
	r.Header.Del("end-user")
	_, rt := tb.Match(r)
	if rt == nil || len(rt.Action.Weighted) != 2 || rt.Action.Weighted[0].Weight != 95 {
		t.Fatalf("weighted route: %+v", rt)
	}
	r.Host = "reviews.default.svc.cluster.local"
	if vh, _ := tb.Match(r); vh == nil || vh.Name != "reviews.default.svc.cluster.local:9080" {
		t.Errorf("fqdn vhost: %v", vh)
	}
	r.Host = "ratings:9080"
	if vh, _ := tb.Match(r); vh != nil {
		t.Errorf("unknown host matched %s", vh.Name)
	}
}

func TestClusters(t *testing.T) {
	cs := []*clusterv3.Cluster{
		x.EDSCluster("outbound|9080||reviews.default.svc.cluster.local", false),
		x.EDSCluster("outbound|50051||grpc.default.svc.cluster.local", true),
		x.StaticCluster("inbound|9080||", true, [2]any{"127.0.0.1", 9080}),
		x.PassthroughCluster(),
		{Name: "BlackHoleCluster", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}},
	}
	cs[0].LbPolicy = clusterv3.Cluster_LEAST_REQUEST
	cfgs, eds, err := Clusters(cs)
	if err != nil {
		t.Fatal(err)
	}
	if len(eds) != 2 || eds[0] != "outbound|50051||grpc.default.svc.cluster.local" {
		t.Errorf("eds names %v", eds)
	}
	if c := cfgs[0]; c.Type != upstream.EDS || c.Protocol != upstream.HTTP1 || c.Policy != upstream.LeastRequest || c.ConnectTimeout.Seconds() != 10 {
		t.Errorf("reviews: %+v", c)
	}
	if c := cfgs[1]; c.Protocol != upstream.H2C {
		t.Errorf("grpc: %+v", c)
	}
	if c := cfgs[2]; c.Type != upstream.Static || c.Protocol != upstream.H2C || len(c.Endpoints) != 1 || c.Endpoints[0].Address != "127.0.0.1:9080" {
		t.Errorf("inbound: %+v", c)
	}
	if c := cfgs[3]; c.Type != upstream.OriginalDst {
		t.Errorf("passthrough: %+v", c)
	}
	if c := cfgs[4]; len(c.Endpoints) != 0 || c.ConnectTimeout.Seconds() != 5 {
		t.Errorf("blackhole: %+v", c)
	}
}

func TestEndpoints(t *testing.T) {
	eps, err := Endpoints(x.CLAs(x.CLA("a", [2]any{"10.0.0.1", 9080}, [2]any{"10.0.0.2", 9080}), x.CLA("empty")))
	if err != nil {
		t.Fatal(err)
	}
	if len(eps["a"]) != 2 || eps["a"][1].Address != "10.0.0.2:9080" {
		t.Errorf("a: %v", eps["a"])
	}
	if e, ok := eps["empty"]; !ok || len(e) != 0 {
		t.Errorf("empty: %v %v", e, ok)
	}
}

func TestInvalid(t *testing.T) {
	noRouter := x.OutboundHTTP(9080, "0.0.0.0_9080")
	h := &hcmv3.HttpConnectionManager{RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{RouteConfigName: "9080"}}}
	noRouter.FilterChains[0].Filters[0] = x.HCMFilter(h)

	unknownFilter := x.OutboundHTTP(9080, "0.0.0.0_9080")
	unknownFilter.FilterChains[0].Filters = []*listenerv3.Filter{{Name: "envoy.filters.network.redis_proxy",
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: x.Any(&structpb.Struct{})}}}

	unknownLF := x.VirtualOutbound("127.0.0.1", 15001)
	unknownLF.ListenerFilters[0].Name = "halyard.listener.unknown"

	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"bad regex", func() error {
			_, err := Routes([]*routev3.RouteConfiguration{x.RouteConfig("9080",
				x.VirtualHost("reviews", "default", "9080", x.RegexRoute("/api/([a-z", "c")))})
			return err
		}, `xds: route "9080": virtual host "reviews.default.svc.cluster.local:9080": route #0: invalid regex "/api/([a-z"`},
		{"HCM without router", func() error { _, _, err := Listeners([]*listenerv3.Listener{noRouter}); return err },
			`xds: listener "0.0.0.0_9080": http_connection_manager: http_filters has no envoy.filters.http.router`},
		{"unsupported network filter", func() error { _, _, err := Listeners([]*listenerv3.Listener{unknownFilter}); return err },
			`xds: listener "0.0.0.0_9080": unsupported network filter "envoy.filters.network.redis_proxy"`},
		{"unsupported listener filter", func() error { _, _, err := Listeners([]*listenerv3.Listener{unknownLF}); return err },
			`xds: listener "virtualOutbound": unsupported listener filter "halyard.listener.unknown"`},
		{"unknown cluster type", func() error {
			c := x.EDSCluster("outbound|9080|v2|reviews.default.svc.cluster.local", false)
			c.ClusterDiscoveryType = &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{Name: "envoy.clusters.aggregate", TypedConfig: &anypb.Any{}}}
			_, _, err := Clusters([]*clusterv3.Cluster{c})
			return err
		}, `xds: cluster "outbound|9080|v2|reviews.default.svc.cluster.local": unknown cluster type "envoy.clusters.aggregate"`},
		{"unsupported lb policy", func() error {
			c := x.EDSCluster("c", false)
			c.LbPolicy = clusterv3.Cluster_LOAD_BALANCING_POLICY_CONFIG
			_, _, err := Clusters([]*clusterv3.Cluster{c})
			return err
		}, `xds: cluster "c": unsupported lb_policy LOAD_BALANCING_POLICY_CONFIG`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error:\n %v\nwant prefix:\n %s", err, tt.want)
			}
		})
	}
}
