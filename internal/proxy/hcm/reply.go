package hcm

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

// reqState is the per-request state: the info a later filter reads, the
// filters' view of the request, and what forwarding needs. It is the one
// allocation Serve makes for itself.
type reqState struct {
	info RequestInfo
	x    Exchange
	s    *Server
	cfg  *Config
	w    http.ResponseWriter // &cw
	r    *http.Request
	cw   countingWriter
	// outReq and outURL are the upstream request and its URL, copies of
	// the downstream's.
	outReq http.Request
	outURL url.URL
	span   Span
	res    *http.Response // the upstream response being returned

	meta map[string]*structpb.Struct // Exchange.SetMetadata

	genID      bool
	filtersRun int // filters whose OnRequest ran (their OnResponse runs)
	replied    bool

	route   *router.Route
	target  *router.Target
	cluster *upstream.Cluster
	pick    upstream.PickRequest
	// setCookie is a hash cookie to issue on the response.
	setCookie string
	grpc      bool
	// grpcTimeout is the timeout to put in the upstream's grpc-timeout
	// header (max_grpc_timeout), when > 0.
	grpcTimeout int64 // nanoseconds

	// Body replay (retries, mirrors).
	hasBody bool
	body    *replayBody
	reader  *bodyReader // the current attempt's

	// Attempts.
	retries      uint32
	tried        []*upstream.Host
	triedBuf     [4]*upstream.Host
	avoid        func(*upstream.Host) bool
	active       *upstream.Host // host of the response being returned
	retryRelease func()
	attemptDone  context.CancelCauseFunc
	failure      router.Failure
	noHost       bool
	// direct is cleared when an attempt went through a transport that may
	// still refer to the request after Serve (see recycle).
	direct bool
}

// formatContext is the context of %COMMAND% header values.
func (st *reqState) formatContext(resp http.Header) *router.FormatContext {
	fc := &router.FormatContext{Request: st.r, Response: resp, UpstreamHost: st.info.UpstreamHost,
		Cluster: st.info.Cluster, Route: st.info.Route, Start: st.info.Start, Remote: st.info.Remote}
	return fc
}

// applyHeaders runs a header mutation, building a format context only when
// the mutation needs one.
func (st *reqState) applyHeaders(m *router.HeaderMutation, h http.Header, resp http.Header) {
	if m == nil {
		return
	}
	var fc *router.FormatContext
	if m.NeedsContext() {
		fc = st.formatContext(resp)
	}
	m.Apply(h, fc)
}

// debugOn reports whether the response gets the reason header.
func (st *reqState) debugOn() bool {
	switch st.s.opts.DebugHeaders {
	case DebugAlways:
		return true
	case DebugOnRequest:
		v := st.r.Header[DebugRequestHeader]
		return len(v) > 0 && v[0] == "1"
	}
	return false
}

// finishHeaders runs the response filters and adds the debug header.
func (st *reqState) finishHeaders(status int, h http.Header, local bool) {
	for i := st.filtersRun - 1; i >= 0; i-- {
		st.cfg.Filters[i].OnResponse(&st.x, status, h)
	}
	if (local || st.info.Flags != 0 || st.info.Details != "") && st.debugOn() {
		h[ReasonHeader] = []string{st.info.Flags.String() + " " + st.info.Details}
	}
}

// localReply sends a proxy-generated response and records it. A gRPC
// request gets a trailers-only gRPC response carrying the mapped status,
// as Envoy does. routeHeaders applies the route's response headers (the
// router's own replies).
func (st *reqState) localReply(status int, flags Flags, details, body string, routeHeaders bool) {
	if st.replied {
		return
	}
	st.replied = true
	info := &st.info
	info.Status = status
	info.Flags |= flags
	info.Details = details
	w, r := st.w, st.r
	h := w.Header()
	if routeHeaders && st.route != nil {
		st.applyHeaders(st.route.LocalResponseHeaders(), h, h)
	}
	if isGRPC(r) {
		info.Status = http.StatusOK
		setGRPCStatus(h, grpcStatus(status), body)
		st.finishHeaders(http.StatusOK, h, true)
		w.WriteHeader(http.StatusOK)
		return
	}
	h["Content-Type"] = []string{"text/plain"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	st.finishHeaders(status, h, true)
	w.WriteHeader(status)
	if r.Method != http.MethodHead && body != "" {
		_, _ = io.WriteString(w, body)
	}
}

// grpcReply sends a trailers-only gRPC response with a given code.
func (st *reqState) grpcReply(code int, message string, flags Flags, details string) {
	if st.replied {
		return
	}
	st.replied = true
	info := &st.info
	info.Status = http.StatusOK
	info.Flags |= flags
	info.Details = details
	h := st.w.Header()
	setGRPCStatus(h, code, message)
	st.finishHeaders(http.StatusOK, h, true)
	st.w.WriteHeader(http.StatusOK)
}

// headersReply sends a status and the headers already set, no body.
func (st *reqState) headersReply(status int, details string) {
	if st.replied {
		return
	}
	st.replied = true
	st.info.Status = status
	st.info.Details = details
	h := st.w.Header()
	h["Content-Length"] = []string{"0"}
	st.finishHeaders(status, h, true)
	st.w.WriteHeader(status)
}

// redirectReply answers a redirect route.
func (st *reqState) redirectReply() {
	rt := st.route
	st.w.Header()["Location"] = []string{rt.RedirectLocation(st.r)}
	st.localReply(rt.RedirectCode(), 0, "redirect", "", true)
}

func setGRPCStatus(h http.Header, code int, message string) {
	h["Content-Type"] = []string{"application/grpc"}
	h["Grpc-Status"] = []string{strconv.Itoa(code)}
	if message != "" {
		h["Grpc-Message"] = []string{grpcMessage(message)}
	}
}

// grpcMessage percent-encodes a grpc-message value as the gRPC spec
// requires (bytes outside printable ASCII, and '%').
func grpcMessage(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '%' {
			var b strings.Builder
			for j := 0; j < len(s); j++ {
				if c := s[j]; c < 0x20 || c > 0x7e || c == '%' {
					b.WriteByte('%')
					b.WriteString(strings.ToUpper(strconv.FormatUint(uint64(c)>>4, 16) + strconv.FormatUint(uint64(c)&15, 16)))
				} else {
					b.WriteByte(c)
				}
			}
			return b.String()
		}
	}
	return s
}

// grpcStatus maps an HTTP status to a gRPC code as Envoy does.
func grpcStatus(status int) int {
	switch status {
	case http.StatusBadRequest:
		return 13 // INTERNAL
	case http.StatusUnauthorized:
		return 16 // UNAUTHENTICATED
	case http.StatusForbidden:
		return 7 // PERMISSION_DENIED
	case http.StatusNotFound:
		return 12 // UNIMPLEMENTED
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return 14 // UNAVAILABLE
	}
	return 2 // UNKNOWN
}

func isGRPC(r *http.Request) bool {
	ct := r.Header["Content-Type"]
	return len(ct) > 0 && strings.HasPrefix(ct[0], "application/grpc")
}
