package bench

import (
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestHeaderCodec round-trips a CDS response as the control plane sends
// it: the header fields arrive, the resources are skipped, and the bytes
// are counted.
func TestHeaderCodec(t *testing.T) {
	c, err := anypb.New(&cluster.Cluster{Name: "outbound|8080||svc-0000.default.svc.cluster.local",
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS}})
	if err != nil {
		t.Fatal(err)
	}
	in := &discovery.DiscoveryResponse{VersionInfo: "4f1c2a", Resources: []*anypb.Any{c, c}, TypeUrl: resource.ClusterType,
		Nonce: "7", ControlPlane: &core.ControlPlane{Identifier: "halyard"}}
	wire, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	codec := &headerCodec{}
	var out discovery.DiscoveryResponse
	if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &out); err != nil {
		t.Fatal(err)
	}
	if out.VersionInfo != "4f1c2a" || out.TypeUrl != resource.ClusterType || out.Nonce != "7" || len(out.Resources) != 0 {
		t.Errorf("decoded %v", &out)
	}
	if codec.received.Load() != int64(len(wire)) {
		t.Errorf("counted %d bytes, want %d", codec.received.Load(), len(wire))
	}
	if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire[:len(wire)-3])}, &out); err == nil {
		t.Error("a truncated response was accepted")
	}
	// Requests go out as ordinary protobuf.
	req := &discovery.DiscoveryRequest{TypeUrl: resource.ClusterType, ResponseNonce: "7", VersionInfo: "4f1c2a"}
	bs, err := codec.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var back discovery.DiscoveryRequest
	if err := proto.Unmarshal(bs.Materialize(), &back); err != nil || !proto.Equal(&back, req) {
		t.Errorf("request round trip: %v, %v", &back, err)
	}
}
