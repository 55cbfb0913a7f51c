package hcm

import (
	"net/http"
	"strconv"
)

// Peer metadata headers (Istio's names). The client sidecar sets them on
// every outbound request; the server sidecar reads and removes them on its
// inbound listener, so they never reach an application. Halyard's
// x-envoy-peer-metadata is the compact workload encoding of package stats
// ("name;namespace;canonical_service;canonical_revision;cluster;app;version")
// instead of Istio's base64 protobuf Struct; -id is the node ID.
const (
	PeerMetadataHeader   = "X-Envoy-Peer-Metadata"
	PeerMetadataIDHeader = "X-Envoy-Peer-Metadata-Id"
)

// countingWriter counts the response body bytes written downstream. It
// lives in reqState, so it costs no allocation.
type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countingWriter) Header() http.Header { return c.w.Header() }

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) WriteHeader(code int) { c.w.WriteHeader(code) }

// Flush flushes the underlying writer when it can.
func (c *countingWriter) Flush() { _ = http.NewResponseController(c.w).Flush() }

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.w }

// peerHeaders moves the peer metadata across the hop: an inbound request's
// is recorded and removed, an outbound request gets this proxy's.
func (st *reqState) peerHeaders(out http.Header) {
	if st.cfg.Inbound {
		if v := out[PeerMetadataHeader]; len(v) > 0 {
			st.info.PeerMetadata = v[0]
		}
		delete(out, PeerMetadataHeader)
		delete(out, PeerMetadataIDHeader)
		return
	}
	if o := &st.s.opts; o.PeerMetadata != "" {
		out[PeerMetadataHeader] = o.peerMD
		out[PeerMetadataIDHeader] = o.peerID
	}
}

// finishTelemetry records the response's size and gRPC status.
func (st *reqState) finishTelemetry() {
	info := &st.info
	info.ResponseBytes = st.cw.n
	if info.RequestBytes < 0 {
		info.RequestBytes = 0
	}
	if !info.GRPC {
		return
	}
	var v []string
	if st.res != nil {
		if v = st.res.Header["Grpc-Status"]; len(v) == 0 {
			v = st.res.Trailer["Grpc-Status"]
		}
	} else {
		v = st.w.Header()["Grpc-Status"]
	}
	if len(v) > 0 {
		if n, err := strconv.Atoi(v[0]); err == nil {
			info.GRPCStatus = n
		}
	}
}
