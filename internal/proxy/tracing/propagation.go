// Package tracing is the sidecar's distributed tracing: it reads and
// writes W3C trace context (traceparent, tracestate) and B3 (multi-header
// and the single b3 header), samples parent-based with a random rate for
// new traces, records one span per proxy hop with the attributes Istio's
// spans carry, and exports them in batches over OTLP (gRPC or HTTP), off
// the request path, with go.opentelemetry.io/proto/otlp's generated types.
package tracing

import (
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

// Header names (canonical forms).
const (
	hTraceparent  = "Traceparent"
	hB3           = "B3"
	hB3TraceID    = "X-B3-Traceid"
	hB3SpanID     = "X-B3-Spanid"
	hB3ParentSpan = "X-B3-Parentspanid"
	hB3Sampled    = "X-B3-Sampled"
	hB3Flags      = "X-B3-Flags"
)

// parent is the trace context a request arrived with.
type parent struct {
	traceID    [16]byte
	spanID     [8]byte
	sampled    bool
	hasSampled bool // the context carries a sampling decision
	b3         uint8
}

// extract reads W3C traceparent, else single b3, else multi-header B3.
// ok is false when the request has no valid context.
func extract(h http.Header) (p parent, ok bool) {
	if v := h[hTraceparent]; len(v) > 0 {
		if p, ok = parseTraceparent(v[0]); ok {
			return p, true
		}
	}
	if v := h[hB3]; len(v) > 0 {
		if p, ok = parseB3Single(v[0]); ok {
			p.b3 = 2
			return p, true
		}
	}
	if v := h[hB3TraceID]; len(v) > 0 {
		if !decodeID(p.traceID[:], v[0]) || !decodeID(p.spanID[:], first(h[hB3SpanID])) {
			return parent{}, false
		}
		p.b3 = 1
		switch first(h[hB3Sampled]) {
		case "1", "true":
			p.sampled, p.hasSampled = true, true
		case "0", "false":
			p.hasSampled = true
		}
		if first(h[hB3Flags]) == "1" {
			p.sampled, p.hasSampled = true, true
		}
		return p, true
	}
	return parent{}, false
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// parseTraceparent reads "00-<32 hex>-<16 hex>-<2 hex flags>".
func parseTraceparent(v string) (parent, bool) {
	var p parent
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' || v[:2] == "ff" {
		return p, false
	}
	if !decodeHex(p.traceID[:], v[3:35]) || !decodeHex(p.spanID[:], v[36:52]) {
		return p, false
	}
	var flags [1]byte
	if !decodeHex(flags[:], v[53:55]) || isZero(p.traceID[:]) || isZero(p.spanID[:]) {
		return p, false
	}
	p.sampled, p.hasSampled = flags[0]&1 == 1, true
	return p, true
}

// parseB3Single reads "traceid-spanid[-sampled[-parentspanid]]"; a lone
// "0", "1" or "d" is a sampling decision without context (not ok).
func parseB3Single(v string) (parent, bool) {
	var p parent
	parts := strings.SplitN(v, "-", 4)
	if len(parts) < 2 || !decodeID(p.traceID[:], parts[0]) || !decodeID(p.spanID[:], parts[1]) {
		return p, false
	}
	if len(parts) >= 3 {
		switch parts[2] {
		case "1", "d":
			p.sampled, p.hasSampled = true, true
		case "0":
			p.hasSampled = true
		}
	}
	return p, true
}

// decodeID decodes a 16- or 32-digit (trace) or 16-digit (span) hex id,
// right-aligned in dst.
func decodeID(dst []byte, s string) bool {
	if len(s) != 2*len(dst) && !(len(dst) == 16 && len(s) == 16) {
		return false
	}
	clear(dst)
	if !decodeHex(dst[len(dst)-len(s)/2:], s) {
		return false
	}
	return !isZero(dst)
}

func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// inject writes the span as the upstream request's parent: traceparent
// always, and B3 in the form the request came with.
func inject(sp *hcm.Span, h http.Header) {
	var b [55]byte
	copy(b[:3], "00-")
	hex.Encode(b[3:35], sp.TraceID[:])
	b[35] = '-'
	hex.Encode(b[36:52], sp.SpanID[:])
	b[52] = '-'
	b[53], b[54] = '0', '0'
	if sp.Sampled {
		b[54] = '1'
	}
	h[hTraceparent] = []string{string(b[:])}
	sampled := "0"
	if sp.Sampled {
		sampled = "1"
	}
	switch sp.B3 {
	case 1:
		h[hB3TraceID] = []string{hex.EncodeToString(sp.TraceID[:])}
		h[hB3SpanID] = []string{hex.EncodeToString(sp.SpanID[:])}
		if !isZero(sp.ParentID[:]) {
			h[hB3ParentSpan] = []string{hex.EncodeToString(sp.ParentID[:])}
		}
		h[hB3Sampled] = []string{sampled}
		delete(h, hB3Flags)
	case 2:
		v := hex.EncodeToString(sp.TraceID[:]) + "-" + hex.EncodeToString(sp.SpanID[:]) + "-" + sampled
		if !isZero(sp.ParentID[:]) {
			v += "-" + hex.EncodeToString(sp.ParentID[:])
		}
		h[hB3] = []string{v}
	}
}
