// Package hcm is the proxy's HTTP connection manager: for one listener's
// requests it selects a route in the listener's route table, runs the
// listener's HTTP filters, and then acts as Envoy's router filter: it
// answers redirects and direct responses, or picks a cluster and an
// endpoint and forwards the request over the cluster's connection pool
// (relay.go), with the route's timeouts, retries, rewrites, header
// operations, hash policy and mirrors.
package hcm

import (
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

// Config is the compiled HttpConnectionManager of one listener.
type Config struct {
	// RouteConfigName names the RDS route configuration; used when Routes is nil.
	RouteConfigName string
	// Routes is an inline route_config.
	Routes *router.Table
	// GenerateRequestID sets x-request-id when the request has none.
	GenerateRequestID bool
	// Filters are the HTTP filters before the router, in chain order.
	Filters []Filter
	// AccessLogs are the HCM's access_log entries, called once per
	// request after it completed.
	AccessLogs []AccessLogger
	// Tracer is the HCM's tracing; nil: trace headers pass untouched.
	Tracer Tracer
	// Metrics is the listener's metric overrides, opaque here (package
	// stats's *Overrides); copied to RequestInfo.Metrics.
	Metrics any
	// UseRemoteAddress is the HCM's use_remote_address: the downstream
	// address is appended to X-Forwarded-For (Envoy's edge setting; off
	// in sidecars).
	UseRemoteAddress bool
	// XffNumTrustedHops is the HCM's xff_num_trusted_hops: how many
	// proxies in front, on the right of X-Forwarded-For, are trusted when
	// the client's address is taken from it (RequestInfo.Remote).
	XffNumTrustedHops uint32
	// Inbound is set on inbound listeners (traffic_direction INBOUND):
	// requests arrive from a peer sidecar and their peer metadata headers
	// are read and removed.
	Inbound bool
}

// AccessLogger writes one access log entry (package accesslog).
type AccessLogger interface {
	Log(info *RequestInfo)
}

// RouteSource returns the current RDS route table of a name, or nil.
type RouteSource interface {
	RouteTable(name string) *router.Table
}

// ClusterSource returns the named cluster, or nil.
type ClusterSource interface {
	Get(name string) *upstream.Cluster
}

var _ ClusterSource = (*upstream.Manager)(nil)

// DebugHeaders says when responses carry the x-halyard-reason header.
type DebugHeaders uint8

// Debug header modes.
const (
	// DebugOnRequest adds the header when the request has
	// "x-halyard-debug: 1" (the default).
	DebugOnRequest DebugHeaders = iota
	// DebugNever never adds it.
	DebugNever
	// DebugAlways adds it to every response the proxy ended, delayed or
	// retried.
	DebugAlways
)

// ParseDebugHeaders parses "request", "never" (or "off") and "always".
func ParseDebugHeaders(s string) (DebugHeaders, bool) {
	switch s {
	case "request", "":
		return DebugOnRequest, true
	case "never", "off":
		return DebugNever, true
	case "always":
		return DebugAlways, true
	}
	return 0, false
}

// Debug header names.
const (
	// DebugRequestHeader asks for the reason header ("1").
	DebugRequestHeader = "X-Halyard-Debug"
	// ReasonHeader carries "<flags> <details>" on responses the proxy
	// ended, delayed or retried, when debugging is on.
	ReasonHeader = "X-Halyard-Reason"
)

// Options configures a Server.
type Options struct {
	Routes   RouteSource
	Clusters ClusterSource
	Log      *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// OnDone, when set, is called once per request after it completed.
	OnDone func(*RequestInfo)
	// DebugHeaders says when to add the x-halyard-reason header.
	DebugHeaders DebugHeaders
	// MaxBufferedBody bounds the request body kept for retries and
	// mirrors (default 64 KiB); a larger body is not retried.
	MaxBufferedBody int
	// MaxMirrors bounds the mirrored requests in flight (default 1024);
	// beyond it requests are not mirrored.
	MaxMirrors int
	// PeerMetadata and PeerID, when set, are sent as the peer metadata
	// headers on outbound requests (see PeerMetadataHeader).
	PeerMetadata, PeerID string

	peerMD, peerID []string
}

// Server serves the HTTP requests of every HCM listener. It is safe for
// concurrent use; the per-listener Config is passed to Serve.
type Server struct {
	opts    Options
	now     func() time.Time
	mirrors atomic.Int64 // mirrored requests in flight
	// mirrorWG tracks the mirror goroutines (tests wait for them).
	mirrorWG sync.WaitGroup
}

// Default limits.
const (
	DefaultMaxBufferedBody = 64 << 10
	DefaultMaxMirrors      = 1024
)

// NewServer returns a Server.
func NewServer(opts Options) *Server {
	if opts.MaxBufferedBody <= 0 {
		opts.MaxBufferedBody = DefaultMaxBufferedBody
	}
	if opts.MaxMirrors <= 0 {
		opts.MaxMirrors = DefaultMaxMirrors
	}
	opts.peerMD, opts.peerID = []string{opts.PeerMetadata}, []string{opts.PeerID}
	s := &Server{opts: opts, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Serve handles one request received on the named listener.
func (s *Server) Serve(w http.ResponseWriter, r *http.Request, listener string, cfg *Config) {
	st := reqStates.Get().(*reqState)
	st.s, st.cfg, st.r, st.genID, st.direct = s, cfg, r, cfg.GenerateRequestID, true
	s.serve(st, w, listener)
	// Not reached when serve panics (an aborted response): st is then
	// left to the garbage collector.
	st.recycle()
}

// reqStates recycles the state of requests whose every upstream attempt
// went over an HTTP/1.1 pool on the request's goroutine (see
// upstream.Cluster.Exchange), so that nothing can refer to it after Serve:
// a request's state is the largest allocation of its path, and what the
// garbage collector's cycles are paced by.
var reqStates = sync.Pool{New: func() any { return new(reqState) }}

// recycle puts st back in reqStates when nothing can refer to it.
func (st *reqState) recycle() {
	if !st.direct {
		return
	}
	*st = reqState{}
	reqStates.Put(st)
}

func (s *Server) serve(st *reqState, w http.ResponseWriter, listener string) {
	r, cfg := st.r, st.cfg
	st.cw.w = w
	st.w = &st.cw
	info := &st.info
	info.Start = s.now()
	info.Listener = listener
	info.Protocol = r.Proto
	info.Method = r.Method
	info.Authority = r.Host
	info.Path = r.URL.Path
	info.RequestID = r.Header.Get("X-Request-Id")
	info.Inbound = cfg.Inbound
	info.Peer, _ = parseAddrPort(r.RemoteAddr)
	info.Remote = trustedClient(r.Header, info.Peer, cfg.UseRemoteAddress, cfg.XffNumTrustedHops)
	if cfg.Inbound {
		connSecurity(r.Context(), info)
		// Recorded now so that a request a filter answers (rbac) is
		// attributed to its source too; forwarding removes the header.
		if v := r.Header[PeerMetadataHeader]; len(v) > 0 {
			info.PeerMetadata = v[0]
		}
	}
	info.Metrics = cfg.Metrics
	info.GRPC = isGRPC(r)
	info.GRPCStatus = -1
	info.RequestBytes = r.ContentLength
	info.Request = r
	if cfg.Tracer != nil {
		cfg.Tracer.Begin(r, &st.span)
	}
	if s.opts.OnDone != nil || len(cfg.AccessLogs) > 0 || cfg.Tracer != nil {
		defer s.done(st)
	}

	table := cfg.Routes
	if table == nil {
		info.RouteConfig = cfg.RouteConfigName
		table = s.opts.Routes.RouteTable(cfg.RouteConfigName)
	} else {
		info.RouteConfig = table.Name
	}
	var vh *router.VirtualHost
	var rt *router.Route
	if table != nil {
		vh, rt = table.Match(r)
	}
	if vh != nil {
		info.VirtualHost = vh.Name
	}
	if rt != nil {
		info.Route = rt.Name
	}
	st.route = rt
	x := &st.x
	*x = Exchange{Request: r, VirtualHost: vh, Route: rt, Info: info, st: st}
	for i, f := range cfg.Filters {
		st.filtersRun = i + 1
		if !f.OnRequest(x) {
			return
		}
	}
	switch {
	case rt == nil:
		st.localReply(http.StatusNotFound, NoRouteFound, "route not found", "route not found", false)
	case rt.Action.DirectStatus != 0:
		st.localReply(rt.Action.DirectStatus, DirectResponse, "direct response", rt.Action.DirectBody, true)
	case rt.IsRedirect():
		st.redirectReply()
	default:
		s.forward(st)
	}
}

func (s *Server) done(st *reqState) {
	info := &st.info
	info.Duration = s.now().Sub(info.Start)
	st.finishTelemetry()
	if st.cfg.Tracer != nil {
		st.cfg.Tracer.End(&st.span, info)
	}
	for _, l := range st.cfg.AccessLogs {
		l.Log(info)
	}
	if s.opts.OnDone != nil {
		s.opts.OnDone(info)
	}
}

// Reject answers a request locally without routing it (for example an
// explicit-proxy request for a port without a listener) and reports it to
// OnDone like any other request.
func (s *Server) Reject(w http.ResponseWriter, r *http.Request, listener string, status int, f Flags, body string) {
	st := &reqState{s: s, cfg: &Config{}, r: r}
	st.cw.w = w
	st.w = &st.cw
	info := &st.info
	*info = RequestInfo{Start: s.now(), Listener: listener, Protocol: r.Proto, Method: r.Method,
		Authority: r.Host, Path: r.URL.Path, RequestID: r.Header.Get("X-Request-Id"),
		GRPC: isGRPC(r), GRPCStatus: -1, RequestBytes: r.ContentLength, Request: r}
	info.Peer, _ = parseAddrPort(r.RemoteAddr)
	info.Remote = trustedClient(r.Header, info.Peer, false, 0)
	st.localReply(status, f, body, body, false)
	if s.opts.OnDone != nil {
		s.done(st)
	}
}
