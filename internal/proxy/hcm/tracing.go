package hcm

import "net/http"

// Span is the proxy's span of one request: its place in the trace, kept in
// the request state (no allocation).
type Span struct {
	TraceID  [16]byte
	SpanID   [8]byte
	ParentID [8]byte // zero for a root span
	Sampled  bool
	// B3 is how the request carried B3 context: 0 none, 1 multi-header,
	// 2 the single b3 header; the span is injected the same way too.
	B3 uint8
}

// Tracer is an HCM's tracing (package tracing implements it).
type Tracer interface {
	// Begin reads the request's trace context (W3C traceparent, B3),
	// decides sampling and starts the proxy's span.
	Begin(r *http.Request, sp *Span)
	// Inject writes the span's context to the upstream request headers.
	Inject(sp *Span, h http.Header)
	// End records the finished span when it is sampled.
	End(sp *Span, info *RequestInfo)
}
