package adscache

import (
	"context"
	"net"
	"sort"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	xdsserver "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/halyard-mesh/halyard/internal/xds"
)

const nodeID = "sidecar~127.0.0.1~a.default~default.svc.cluster.local"

// rig is a real ADS server on port 0 backed by a Cache, and one client stream.
type rig struct {
	t      *testing.T
	cache  *Cache
	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	msgs   chan *discovery.DiscoveryResponse // the stream's one reader writes here
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := New(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	discovery.RegisterAggregatedDiscoveryServiceServer(srv, xdsserver.NewServer(ctx, c, nil))
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, cache: c, stream: stream, msgs: make(chan *discovery.DiscoveryResponse, 16)}
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				close(r.msgs)
				return
			}
			r.msgs <- resp
		}
	}()
	return r
}

func (r *rig) send(req *discovery.DiscoveryRequest) {
	r.t.Helper()
	req.Node = &core.Node{Id: nodeID}
	if err := r.stream.Send(req); err != nil {
		r.t.Fatal(err)
	}
}

// recv waits for the next response, failing after a deadline.
func (r *rig) recv() *discovery.DiscoveryResponse {
	r.t.Helper()
	select {
	case resp, ok := <-r.msgs:
		if !ok {
			r.t.Fatal("stream ended")
		}
		return resp
	case <-time.After(5 * time.Second):
		r.t.Fatal("no response within 5s")
		return nil
	}
}

// quiet checks that nothing arrives for a short while: the only way to
// observe that a server does not answer.
func (r *rig) quiet(d time.Duration) {
	r.t.Helper()
	select {
	case resp := <-r.msgs:
		r.t.Fatalf("unexpected response: version %s, %d resources", resp.GetVersionInfo(), len(resp.GetResources()))
	case <-time.After(d):
	}
}

func clusters(names ...string) []types.Resource {
	out := make([]types.Resource, len(names))
	for i, n := range names {
		out[i] = &cluster.Cluster{Name: n, ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS}}
	}
	return out
}

func loads(names ...string) []types.Resource {
	out := make([]types.Resource, len(names))
	for i, n := range names {
		out[i] = &endpoint.ClusterLoadAssignment{ClusterName: n}
	}
	return out
}

func set(t *testing.T, typeURL string, items []types.Resource) *xds.ResourceSet {
	t.Helper()
	s, err := xds.NewResourceSet(typeURL, items)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func config(t *testing.T, shared, own []string, eds []string) *xds.ProxyConfig {
	t.Helper()
	cds := xds.TypeConfig{Shared: set(t, resource.ClusterType, clusters(shared...))}
	cds.Version = cds.Shared.Version
	if len(own) > 0 {
		cds.Own = set(t, resource.ClusterType, clusters(own...))
		cds.Version += "+" + cds.Own.Version
	}
	e := set(t, resource.EndpointType, loads(eds...))
	return &xds.ProxyConfig{Types: map[string]xds.TypeConfig{
		resource.ClusterType:  cds,
		resource.EndpointType: {Version: e.Version, Shared: e},
	}}
}

// names decodes a response's resources (the pre-encoded shared ones too)
// and returns their names, sorted.
func names(t *testing.T, resp *discovery.DiscoveryResponse) []string {
	t.Helper()
	var out []string
	for _, a := range resp.GetResources() {
		if a.GetTypeUrl() != resp.GetTypeUrl() {
			t.Errorf("resource of type %s in a %s response", a.GetTypeUrl(), resp.GetTypeUrl())
		}
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		switch r := m.(type) {
		case *cluster.Cluster:
			out = append(out, r.GetName())
		case *endpoint.ClusterLoadAssignment:
			out = append(out, r.GetClusterName())
		}
	}
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWildcardGetsSharedAndOwnDecodedAsUsual(t *testing.T) {
	r := newRig(t)
	cfg := config(t, []string{"outbound|80||b", "outbound|80||a"}, []string{"inbound|8080||"}, nil)
	r.cache.SetConfig(nodeID, cfg)
	r.send(&discovery.DiscoveryRequest{TypeUrl: resource.ClusterType})
	resp := r.recv()
	if got, want := names(t, resp), []string{"inbound|8080||", "outbound|80||a", "outbound|80||b"}; !equal(got, want) {
		t.Errorf("names = %v, want %v", got, want)
	}
	if resp.GetVersionInfo() != cfg.Types[resource.ClusterType].Version {
		t.Errorf("version = %q, want %q", resp.GetVersionInfo(), cfg.Types[resource.ClusterType].Version)
	}
	// The pre-encoded form is what marshalling the resources would give.
	plain := &discovery.DiscoveryResponse{}
	b, _ := proto.Marshal(resp)
	if err := proto.Unmarshal(b, plain); err != nil || len(plain.GetResources()) != 3 {
		t.Fatalf("re-decoded response: %v, %d resources", err, len(plain.GetResources()))
	}
}

func TestAckWaitsForChangeAndNackIsNotResent(t *testing.T) {
	r := newRig(t)
	first := config(t, []string{"a"}, nil, nil)
	r.cache.SetConfig(nodeID, first)
	r.send(&discovery.DiscoveryRequest{TypeUrl: resource.ClusterType})
	resp := r.recv()
	r.send(&discovery.DiscoveryRequest{TypeUrl: resource.ClusterType, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()})
	r.quiet(200 * time.Millisecond)

	second := config(t, []string{"a", "b"}, nil, nil)
	r.cache.SetConfig(nodeID, second)
	resp = r.recv()
	if got := names(t, resp); !equal(got, []string{"a", "b"}) {
		t.Fatalf("after change: %v", got)
	}
	// NACK: the proxy keeps the first version; the same bad one is not re-sent.
	r.send(&discovery.DiscoveryRequest{TypeUrl: resource.ClusterType, VersionInfo: first.Types[resource.ClusterType].Version,
		ResponseNonce: resp.GetNonce(), ErrorDetail: &status.Status{Message: "bad"}})
	r.quiet(200 * time.Millisecond)
	r.cache.SetConfig(nodeID, config(t, []string{"a", "c"}, nil, nil))
	if got := names(t, r.recv()); !equal(got, []string{"a", "c"}) {
		t.Fatalf("after a fix: %v", got)
	}
}

func TestNamedSubscriptionGetsWhatItNames(t *testing.T) {
	r := newRig(t)
	r.cache.SetConfig(nodeID, config(t, []string{"a"}, nil, []string{"x", "y", "z"}))
	r.send(&discovery.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: []string{"x", "nope"}})
	resp := r.recv()
	if got := names(t, resp); !equal(got, []string{"x"}) {
		t.Fatalf("names = %v, want [x]", got)
	}
	// Same version, a new name: answered at once with it.
	r.send(&discovery.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: []string{"x", "y"},
		VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()})
	resp = r.recv()
	if got := names(t, resp); !equal(got, []string{"x", "y"}) {
		t.Fatalf("names = %v, want [x y]", got)
	}
	// Same names, same version: nothing.
	r.send(&discovery.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: []string{"y", "x"},
		VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()})
	r.quiet(200 * time.Millisecond)
	// Every name of the set: the pre-encoded form.
	r.send(&discovery.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: []string{"x", "y", "z"},
		VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()})
	if got := names(t, r.recv()); !equal(got, []string{"x", "y", "z"}) {
		t.Fatalf("names = %v, want [x y z]", got)
	}
}

func TestWatchBeforeConfigIsAnsweredWhenItArrives(t *testing.T) {
	r := newRig(t)
	r.send(&discovery.DiscoveryRequest{TypeUrl: resource.ClusterType})
	r.quiet(100 * time.Millisecond)
	r.cache.SetConfig(nodeID, config(t, []string{"a"}, nil, nil))
	if got := names(t, r.recv()); !equal(got, []string{"a"}) {
		t.Fatalf("names = %v", got)
	}
}

func TestDeltaAndFetchAreRefused(t *testing.T) {
	c := New(nil)
	if _, err := c.CreateDeltaWatch(nil, nil, nil); err == nil {
		t.Error("delta watch accepted")
	}
	if _, err := c.Fetch(context.Background(), nil); err == nil {
		t.Error("fetch accepted")
	}
}
