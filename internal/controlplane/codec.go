package controlplane

import (
	"fmt"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// xdsCodec is the ADS server's gRPC codec: the standard protobuf codec,
// except that a DiscoveryResponse carrying pre-encoded resources in its
// unknown fields (internal/adscache: a shared resource set, encoded once
// for every proxy that receives it) is sent as its known fields followed
// by those bytes as they are. Protobuf allows fields in any order, so the
// proxy reads the same message, and the megabytes of a full push are
// neither copied into a fresh buffer nor cleared per proxy.
type xdsCodec struct{ base encoding.CodecV2 }

func newXDSCodec() encoding.CodecV2 {
	return xdsCodec{base: encoding.GetCodecV2("proto")}
}

func (c xdsCodec) Marshal(v any) (mem.BufferSlice, error) {
	r, ok := v.(*discovery.DiscoveryResponse)
	if !ok {
		return c.base.Marshal(v)
	}
	blob := r.ProtoReflect().GetUnknown()
	if len(blob) == 0 {
		return c.base.Marshal(v)
	}
	known := &discovery.DiscoveryResponse{
		VersionInfo:  r.VersionInfo,
		Resources:    r.Resources,
		Canary:       r.Canary,
		TypeUrl:      r.TypeUrl,
		Nonce:        r.Nonce,
		ControlPlane: r.ControlPlane,
	}
	b, err := proto.Marshal(known)
	if err != nil {
		return nil, fmt.Errorf("controlplane: marshal %s response: %w", r.TypeUrl, err)
	}
	return mem.BufferSlice{mem.SliceBuffer(b), mem.SliceBuffer(blob)}, nil
}

func (c xdsCodec) Unmarshal(data mem.BufferSlice, v any) error { return c.base.Unmarshal(data, v) }

func (c xdsCodec) Name() string { return c.base.Name() }
