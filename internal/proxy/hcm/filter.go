package hcm

import (
	"net/http"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
)

// Filter is one HTTP filter of a listener's chain (before the router, which
// is the HCM itself). A Filter is built once per listener configuration by
// the filter registry (internal/proxy/filter) and shared by every request,
// so it must be safe for concurrent use; per-request state lives in the
// Exchange.
type Filter interface {
	// OnRequest runs in chain order once the route is selected (x.Route
	// is nil when none matched). It returns false when the filter has
	// answered the request itself (x.SendLocalReply and friends), which
	// ends it: the filters after it and the router do not run.
	OnRequest(x *Exchange) bool
	// OnResponse runs in reverse chain order, for the filters whose
	// OnRequest ran and returned true, before the response headers are
	// sent: on the upstream's response and on the proxy's own replies.
	OnResponse(x *Exchange, status int, h http.Header)
}

// Exchange is one request as the filters see it.
type Exchange struct {
	Request     *http.Request
	VirtualHost *router.VirtualHost // nil when no virtual host matched
	Route       *router.Route       // nil when no route matched
	Info        *RequestInfo

	st    *reqState
	marks uint64
}

// Mark sets a per-request flag for the filter in a slot (below 64), for
// its OnResponse to read.
func (x *Exchange) Mark(slot int) { x.marks |= 1 << (uint(slot) & 63) }

// Marked reports whether Mark was called for the slot.
func (x *Exchange) Marked(slot int) bool { return x.marks&(1<<(uint(slot)&63)) != 0 }

// PerRoute returns the route's config for the filter in a slot (see
// router.Route.FilterConfig), or nil.
func (x *Exchange) PerRoute(slot int) any {
	if x.Route == nil {
		return nil
	}
	return x.Route.FilterConfig(slot)
}

// SendLocalReply answers the request with a proxy-generated response, as
// Envoy's sendLocalReply: a text/plain body, or, for a gRPC request, a
// trailers-only gRPC response with the status mapped to a gRPC code. The
// flags and details are recorded in Info (and shown in the debug header).
func (x *Exchange) SendLocalReply(status int, flags Flags, details, body string) {
	x.st.filterReplyService()
	x.st.localReply(status, flags, details, body, false)
}

// SendGRPCStatus answers with a trailers-only gRPC response carrying code
// and message (HTTP 200), whatever the request's content type.
func (x *Exchange) SendGRPCStatus(code int, message string, flags Flags, details string) {
	x.st.filterReplyService()
	x.st.grpcReply(code, message, flags, details)
}

// SendHeaders answers with a status and the headers set on
// ResponseHeader, without a body (a CORS preflight).
func (x *Exchange) SendHeaders(status int, details string) {
	x.st.headersReply(status, details)
}

// ResponseHeader is the header map of the reply a filter is about to send.
func (x *Exchange) ResponseHeader() http.Header { return x.st.w.Header() }

// SetMetadata publishes what a filter learned of the request under a
// namespace (Envoy's dynamic metadata: jwt_authn its verified JWT
// payloads, istio_authn the request.auth.* attributes) for the filters
// after it, such as rbac's metadata matchers, to read. Setting a
// namespace again replaces it.
func (x *Exchange) SetMetadata(namespace string, v *structpb.Struct) {
	if x.st.meta == nil {
		x.st.meta = make(map[string]*structpb.Struct, 2)
	}
	x.st.meta[namespace] = v
}

// Metadata returns what SetMetadata published under a namespace, or nil.
func (x *Exchange) Metadata(namespace string) *structpb.Struct { return x.st.meta[namespace] }

// filterReplyService names the destination service of an inbound request
// a filter answers (the route's cluster's), as the router would have, so
// that its metrics say which service refused it.
func (st *reqState) filterReplyService() {
	if !st.cfg.Inbound || st.route == nil || st.info.Service != "" {
		return
	}
	if c := st.s.opts.Clusters.Get(st.route.Pick().Cluster); c != nil {
		st.info.Service = c.Config().Service
	}
}
