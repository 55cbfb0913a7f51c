package bench

import (
	"fmt"
	"sync/atomic"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// headerCodec is gRPC's proto codec, except that it decodes only the
// header of a DiscoveryResponse (version, type URL, nonce) and skips the
// resources: a simulated proxy has no use for them, and decoding every
// resource for thousands of proxies would take the CPU the control plane
// is measured with. It counts the bytes received.
type headerCodec struct{ received atomic.Int64 }

func (*headerCodec) Name() string { return "proto" }

func (*headerCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("bench: codec: %T is not a proto message", v)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("bench: codec: %w", err)
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (c *headerCodec) Unmarshal(data mem.BufferSlice, v any) error {
	c.received.Add(int64(data.Len()))
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	if resp, ok := v.(*discovery.DiscoveryResponse); ok {
		return decodeResponseHeader(buf.ReadOnlyData(), resp)
	}
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("bench: codec: %T is not a proto message", v)
	}
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}

// decodeResponseHeader sets resp's version_info, type_url and nonce from
// its wire form, skipping every other field.
func decodeResponseHeader(b []byte, resp *discovery.DiscoveryResponse) error {
	fields := resp.ProtoReflect().Descriptor().Fields()
	targets := map[protowire.Number]*string{
		fields.ByName("version_info").Number(): &resp.VersionInfo,
		fields.ByName("type_url").Number():     &resp.TypeUrl,
		fields.ByName("nonce").Number():        &resp.Nonce,
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("bench: discovery response: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if dst, ok := targets[num]; ok && typ == protowire.BytesType {
			s, n := protowire.ConsumeString(b)
			if n < 0 {
				return fmt.Errorf("bench: discovery response: %w", protowire.ParseError(n))
			}
			*dst, b = s, b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return fmt.Errorf("bench: discovery response: %w", protowire.ParseError(n))
		}
		b = b[n:]
	}
	return nil
}
