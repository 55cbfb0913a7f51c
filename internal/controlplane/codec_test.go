package controlplane

import (
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestXDSCodecSendsPreEncodedResourcesAsTheyAre(t *testing.T) {
	const typeURL = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	own := &anypb.Any{TypeUrl: typeURL, Value: []byte("own")}
	var blob []byte
	var shared []*anypb.Any
	for _, v := range []string{"first shared resource", "second"} {
		a := &anypb.Any{TypeUrl: typeURL, Value: []byte(v)}
		shared = append(shared, a)
		enc, err := proto.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		blob = protowire.AppendTag(blob, 2, protowire.BytesType)
		blob = protowire.AppendBytes(blob, enc)
	}
	r := &discovery.DiscoveryResponse{VersionInfo: "v7", TypeUrl: typeURL, Nonce: "n1",
		Resources: []*anypb.Any{own}, ControlPlane: &core.ControlPlane{Identifier: "halyard"}}
	r.ProtoReflect().SetUnknown(blob)

	c := newXDSCodec()
	data, err := c.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 2 || &data[1].ReadOnlyData()[0] != &blob[0] {
		t.Fatalf("got %d buffers; want the known fields then the shared bytes themselves, not a copy", len(data))
	}
	got := &discovery.DiscoveryResponse{}
	if err := c.Unmarshal(data, got); err != nil {
		t.Fatal(err)
	}
	want := &discovery.DiscoveryResponse{VersionInfo: "v7", TypeUrl: typeURL, Nonce: "n1",
		Resources: append([]*anypb.Any{own}, shared...), ControlPlane: &core.ControlPlane{Identifier: "halyard"}}
	if !proto.Equal(got, want) {
		t.Errorf("decoded %v\nwant %v", got, want)
	}

	// Anything else goes through the standard codec.
	plain, err := c.Marshal(&discovery.DiscoveryRequest{VersionInfo: "v1"})
	if err != nil || len(plain.Materialize()) == 0 {
		t.Fatalf("request: %v", err)
	}
}
