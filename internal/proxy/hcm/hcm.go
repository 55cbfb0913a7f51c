// Package hcm is the proxy's HTTP connection manager: for one listener's
// requests it selects a route in the listener's route table, picks a
// cluster and an endpoint, and forwards the request with
// net/http/httputil.ReverseProxy over the cluster's connection pool.
package hcm

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
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

// Options configures a Server.
type Options struct {
	Routes   RouteSource
	Clusters ClusterSource
	Log      *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// OnDone, when set, is called once per request after it completed.
	OnDone func(*RequestInfo)
}

// Server serves the HTTP requests of every HCM listener. It is safe for
// concurrent use; the per-listener Config is passed to Serve.
type Server struct {
	opts  Options
	now   func() time.Time
	proxy *httputil.ReverseProxy
}

// reqState is the per-request state: the info a later filter reads, plus
// what the ReverseProxy hooks need.
type reqState struct {
	info    RequestInfo
	cluster *upstream.Cluster
	host    *upstream.Host
	genID   bool
}

// NewServer returns a Server.
func NewServer(opts Options) *Server {
	s := &Server{opts: opts, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	s.proxy = &httputil.ReverseProxy{
		Rewrite:   s.rewrite,
		Transport: clusterTransport{},
		// 0 flushes when the copy is done; ReverseProxy still flushes
		// every write of a response without a length (gRPC, streaming,
		// server-sent events), so only fixed-length bodies are batched.
		FlushInterval:  0,
		BufferPool:     newBufferPool(),
		ModifyResponse: modifyResponse,
		ErrorHandler:   s.proxyError,
		ErrorLog:       slog.NewLogLogger(opts.Log.Handler(), slog.LevelDebug),
	}
	return s
}

// Serve handles one request received on the named listener.
func (s *Server) Serve(w http.ResponseWriter, r *http.Request, listener string, cfg *Config) {
	st := &reqState{genID: cfg.GenerateRequestID}
	info := &st.info
	info.Start = s.now()
	info.Listener = listener
	info.Protocol = r.Proto
	info.Method = r.Method
	info.Authority = r.Host
	info.Path = r.URL.Path
	info.RequestID = r.Header.Get("X-Request-Id")
	if s.opts.OnDone != nil {
		defer s.done(info)
	}

	table := cfg.Routes
	if table == nil {
		info.RouteConfig = cfg.RouteConfigName
		table = s.opts.Routes.RouteTable(cfg.RouteConfigName)
	} else {
		info.RouteConfig = table.Name
	}
	if table == nil {
		LocalReply(w, r, info, http.StatusNotFound, NoRouteFound, "route not found")
		return
	}
	vh, rt := table.Match(r)
	if vh != nil {
		info.VirtualHost = vh.Name
	}
	if rt == nil {
		LocalReply(w, r, info, http.StatusNotFound, NoRouteFound, "route not found")
		return
	}
	info.Route = rt.Name
	if rt.Action.DirectStatus != 0 {
		LocalReply(w, r, info, rt.Action.DirectStatus, DirectResponse, rt.Action.DirectBody)
		return
	}
	info.Cluster = rt.PickCluster()
	c := s.opts.Clusters.Get(info.Cluster)
	if c == nil {
		LocalReply(w, r, info, http.StatusServiceUnavailable, NoClusterFound, "cluster not found")
		return
	}
	h := c.Pick(&upstream.PickRequest{HTTP: r})
	if h == nil {
		LocalReply(w, r, info, http.StatusServiceUnavailable, NoHealthyUpstream, "no healthy upstream")
		return
	}
	st.cluster, st.host = c, h
	info.UpstreamHost = h.Address
	h.Active.Add(1)
	defer h.Active.Add(-1)

	ctx := context.WithValue(r.Context(), infoKey{}, st)
	if d := rt.Action.Timeout; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	defer func() {
		// ReverseProxy aborts the downstream stream when the upstream
		// fails after the response started; record it, then let net/http
		// handle the abort.
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				info.Flags |= UpstreamRemoteReset
			}
			panic(p)
		}
	}()
	s.proxy.ServeHTTP(w, r.WithContext(ctx))
}

func (s *Server) done(info *RequestInfo) {
	info.Duration = s.now().Sub(info.Start)
	s.opts.OnDone(info)
}

// rewrite turns the downstream request into the upstream one. ReverseProxy
// has already removed hop-by-hop headers (keeping "TE: trailers") and the
// X-Forwarded-* headers from Out.
func (s *Server) rewrite(pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(infoKey{}).(*reqState)
	out := pr.Out
	out.URL.Scheme = "http"
	out.URL.Host = st.host.Address
	out.Host = pr.In.Host
	h, in := out.Header, pr.In.Header

	if v := in["X-Forwarded-Proto"]; len(v) > 0 {
		h["X-Forwarded-Proto"] = v
	} else if pr.In.TLS != nil {
		h["X-Forwarded-Proto"] = []string{"https"}
	} else {
		h["X-Forwarded-Proto"] = []string{"http"}
	}
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		if prior := in["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h["X-Forwarded-For"] = []string{ip}
	}
	if v := in["X-Forwarded-Host"]; len(v) > 0 {
		h["X-Forwarded-Host"] = v
	} else if pr.In.Host != "" {
		h["X-Forwarded-Host"] = []string{pr.In.Host}
	}
	if st.info.RequestID == "" && st.genID {
		st.info.RequestID = newUUID()
		h["X-Request-Id"] = []string{st.info.RequestID}
	}
}

type clusterTransport struct{}

func (clusterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st := req.Context().Value(infoKey{}).(*reqState)
	return st.cluster.Transport().RoundTrip(req)
}

func modifyResponse(res *http.Response) error {
	if st, ok := res.Request.Context().Value(infoKey{}).(*reqState); ok {
		st.info.Status = res.StatusCode
	}
	return nil
}

// proxyError answers for a request that got no upstream response, with
// Envoy's status codes and bodies.
func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	st := r.Context().Value(infoKey{}).(*reqState)
	info := &st.info
	switch ctxErr := r.Context().Err(); {
	case errors.Is(ctxErr, context.DeadlineExceeded):
		LocalReply(w, r, info, http.StatusGatewayTimeout, UpstreamRequestTimeout, "upstream request timeout")
	case errors.Is(ctxErr, context.Canceled):
		info.Flags |= DownstreamConnectionTermination
	case upstream.IsDialError(err):
		LocalReply(w, r, info, http.StatusServiceUnavailable, UpstreamConnectionFailure,
			"upstream connect error or disconnect/reset before headers. reset reason: connection failure")
	default:
		LocalReply(w, r, info, http.StatusServiceUnavailable, UpstreamConnectionTermination,
			"upstream connect error or disconnect/reset before headers. reset reason: connection termination")
	}
	s.opts.Log.Debug("hcm: upstream request failed", "listener", info.Listener, "cluster", info.Cluster,
		"upstream", info.UpstreamHost, "flags", info.Flags.String(), "error", err)
}

// LocalReply sends a proxy-generated response and records it in info. A
// gRPC request gets a trailers-only gRPC response carrying the mapped status,
// as Envoy does.
func LocalReply(w http.ResponseWriter, r *http.Request, info *RequestInfo, status int, flag Flags, body string) {
	info.Status = status
	info.Flags |= flag
	h := w.Header()
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/grpc") {
		h.Set("Content-Type", "application/grpc")
		h.Set("Grpc-Status", strconv.Itoa(grpcStatus(status)))
		h.Set("Grpc-Message", body)
		info.Status = http.StatusOK
		w.WriteHeader(http.StatusOK)
		return
	}
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, body)
	}
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

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// Reject answers a request locally without routing it (for example an
// explicit-proxy request for a port without a listener) and reports it to
// OnDone like any other request.
func (s *Server) Reject(w http.ResponseWriter, r *http.Request, listener string, status int, f Flags, body string) {
	info := &RequestInfo{Start: s.now(), Listener: listener, Protocol: r.Proto, Method: r.Method,
		Authority: r.Host, Path: r.URL.Path, RequestID: r.Header.Get("X-Request-Id")}
	LocalReply(w, r, info, status, f, body)
	if s.opts.OnDone != nil {
		s.done(info)
	}
}
