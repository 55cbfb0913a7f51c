package hcm

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

// Bodies of the router's local replies, as Envoy's.
const (
	bodyConnectFailure = "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
	bodyTermination    = "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
	bodyRefused        = "upstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset"
	bodyOverflow       = "upstream connect error or disconnect/reset before headers. reset reason: overflow"
	bodyTimeout        = "upstream request timeout"
	bodyNoHealthy      = "no healthy upstream"
)

// ConnectFailureBody is Envoy's local reply body when no upstream
// connection could be had, by the failure's flag (UO, UH, NC; any other is
// a connection failure). The TCP proxy answers a refused CONNECT with it.
func ConnectFailureBody(f Flags) string {
	switch f {
	case UpstreamOverflow:
		return bodyOverflow
	case NoHealthyUpstream:
		return bodyNoHealthy
	case NoClusterFound:
		return "cluster not found"
	}
	return bodyConnectFailure
}

var (
	errNoHealthyUpstream = errors.New("hcm: no healthy upstream")
	errPerTryTimeout     = errors.New("hcm: upstream per-try timeout")
)

// forward is the router filter's forwarding path: cluster, admission,
// hash, timeout, then the relay (relay.go) with its attempt loop.
func (s *Server) forward(st *reqState) {
	r, rt, info := st.r, st.route, &st.info
	t := rt.Pick()
	st.target = t
	info.Cluster = t.Cluster
	c := s.opts.Clusters.Get(t.Cluster)
	if c == nil {
		st.localReply(rt.Action.ClusterNotFoundStatus, NoClusterFound, "cluster not found", "cluster not found", true)
		return
	}
	release, ok := c.Admit()
	if !ok {
		st.localReply(http.StatusServiceUnavailable, UpstreamOverflow, "upstream overflow (circuit breaker)", bodyOverflow, true)
		return
	}
	defer release()
	st.cluster = c
	info.Service = c.Config().Service
	st.pick.HTTP = r
	st.tried = st.triedBuf[:0]
	if rt.HasHashPolicy() {
		st.pick.Hash, st.pick.HasHash, st.setCookie = rt.Hash(r)
	}
	st.grpc = info.GRPC

	ctx := r.Context()
	if d := requestTimeout(st); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
		if st.grpc && rt.Action.HasMaxGRPCTimeout {
			if rp := rt.Retry(); rp != nil && rp.PerTryTimeout > 0 && rp.PerTryTimeout < d {
				d = rp.PerTryTimeout
			}
			st.grpcTimeout = int64(d)
		}
	}
	st.hasBody = r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	if st.hasBody && (rt.Retry() != nil || len(rt.Mirrors()) > 0) && r.ContentLength <= int64(s.opts.MaxBufferedBody) {
		st.body = newReplayBody(r.Body, s.opts.MaxBufferedBody)
	}
	defer st.finishForward()
	s.relay(st, ctx)
}

// finishForward releases what the request held.
func (st *reqState) finishForward() {
	if st.body != nil {
		st.body.finish()
	}
	if st.active != nil {
		st.active.Active.Add(-1)
	}
	if st.retryRelease != nil {
		st.retryRelease()
	}
	if st.attemptDone != nil {
		st.attemptDone(nil)
	}
}

// rewrite finishes the upstream request (relay has removed the hop-by-hop
// headers): authority and path rewrites, X-Forwarded-* as Envoy sets them,
// request ID, peer metadata, trace context, the route's header operations.
// out shares in's headers. The endpoint is chosen per attempt.
func (s *Server) rewrite(st *reqState, out, in *http.Request) {
	t := st.target
	out.URL.Scheme = "http"
	out.URL.Host = ""
	out.Host = in.Host
	if t.HostRewrite != "" {
		out.Host = t.HostRewrite
	}
	if st.route.RewritesPath() {
		setPath(out.URL, st.route.RewritePath(requestPath(in)))
	}
	h := out.Header
	if v := h["X-Forwarded-Proto"]; len(v) == 0 {
		if in.TLS != nil {
			h["X-Forwarded-Proto"] = xfpHTTPS
		} else {
			h["X-Forwarded-Proto"] = xfpHTTP
		}
	}
	// As Envoy: the client's address is appended to X-Forwarded-For only
	// with use_remote_address (an edge proxy); a sidecar passes the header
	// as it came. X-Forwarded-Host is never added.
	if st.cfg.UseRemoteAddress {
		if ip, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
			if prior := h["X-Forwarded-For"]; len(prior) > 0 {
				ip = strings.Join(prior, ", ") + ", " + ip
			}
			h["X-Forwarded-For"] = []string{ip}
		}
	}
	if st.info.RequestID == "" && st.genID {
		st.info.RequestID = newUUID()
		h["X-Request-Id"] = []string{st.info.RequestID}
	}
	st.peerHeaders(h)
	if st.cfg.Tracer != nil {
		st.cfg.Tracer.Inject(&st.span, h)
	}
	st.applyHeaders(t.RequestHeaders, h, nil)
	if st.grpcTimeout > 0 {
		h["Grpc-Timeout"] = []string{formatGRPCTimeout(time.Duration(st.grpcTimeout))}
	}
	if st.body != nil {
		st.reader = st.body.attemptReader()
		out.Body = st.reader
		out.GetBody = nil
	}
	if len(st.route.Mirrors()) > 0 {
		s.startMirrors(st, out)
	}
}

// requestPath returns the :path of a request (path and query, origin form).
func requestPath(r *http.Request) string {
	if u := r.RequestURI; u != "" && u[0] == '/' {
		return u
	}
	return r.URL.RequestURI()
}

// setPath sets a URL's path and query from a :path value.
func setPath(u *url.URL, full string) {
	path, query, hasQuery := strings.Cut(full, "?")
	u.RawQuery, u.ForceQuery = query, hasQuery && query == ""
	if p, err := url.PathUnescape(path); err == nil {
		u.Path, u.RawPath = p, path
	} else {
		u.Path, u.RawPath = path, ""
	}
}

var (
	xfpHTTP  = []string{"http"}
	xfpHTTPS = []string{"https"}
)

// roundTrip runs the attempts of one request, as Envoy's router does:
// pick an endpoint (avoiding the ones tried when previous_hosts is set),
// send, report the outcome, and retry what the retry policy covers while
// retries remain, the body can be replayed and the max_retries circuit
// breaker admits it, after a jittered back-off. The last attempt's
// response (or failure) is the request's.
func (st *reqState) roundTrip(req *http.Request) (*http.Response, error) {
	retry := st.route.Retry()
	ctx := req.Context()
	info := &st.info
	for {
		h := st.pickHost(retry)
		if h == nil {
			st.noHost = true
			return nil, errNoHealthyUpstream
		}
		areq := req
		if info.Attempts > 0 {
			a := *req
			u := *req.URL
			a.URL = &u
			if st.body != nil {
				st.reader = st.body.attemptReader()
				a.Body = st.reader
			}
			areq = &a
		}
		info.Attempts++
		info.UpstreamHost = h.Address
		info.UpstreamWorkload = h.Workload
		areq.URL.Host = h.Address
		var timer *time.Timer
		if retry != nil && retry.PerTryTimeout > 0 {
			actx, cancel := context.WithCancelCause(ctx)
			st.attemptDone = cancel
			timer = time.AfterFunc(retry.PerTryTimeout, func() { cancel(errPerTryTimeout) })
			areq = areq.WithContext(actx)
		}
		h.Active.Add(1)
		res, direct, err := st.cluster.Exchange(areq)
		st.direct = st.direct && direct
		fired := timer != nil && !timer.Stop()
		info.UpstreamPrincipal = ""
		if err == nil {
			info.UpstreamPrincipal = h.Principal() // the connection's handshake noted it
		}

		var o upstream.Outcome
		status, grpcSt, f := 0, -1, router.NoFailure
		switch {
		case fired:
			if res != nil {
				res.Body.Close()
				res = nil
			}
			f, o.Timeout = router.PerTryTimeout, true
		case err != nil:
			if ctx.Err() != nil {
				// The route timeout fired or the client went away:
				// nothing to retry.
				o.Timeout = errors.Is(ctx.Err(), context.DeadlineExceeded)
				h.Report(o)
				h.Active.Add(-1)
				return nil, err
			}
			switch {
			case upstream.IsDialError(err):
				f, o.ConnectFailure = router.ConnectFailure, true
			case isRefusedStream(err):
				f, o.Reset = router.RefusedStream, true
			default:
				f, o.Reset = router.Reset, true
			}
		default:
			status, o.Status = res.StatusCode, res.StatusCode
			if v := res.Header["Grpc-Status"]; len(v) > 0 {
				if n, err := strconv.Atoi(v[0]); err == nil {
					grpcSt = n
				}
			}
		}
		h.Report(o)

		if retry != nil && retry.Retriable(status, grpcSt, f) {
			if st.retries < retry.NumRetries && st.canReplay() {
				if release, ok := st.cluster.AdmitRetry(); ok {
					st.abandon(res, h)
					if st.retryRelease != nil {
						st.retryRelease()
					}
					st.retryRelease = release
					st.retries++
					if !sleepCtx(ctx, retry.Backoff(int(st.retries))) {
						return nil, ctx.Err()
					}
					continue
				}
				// Envoy flags a retry the max_retries breaker refuses UO.
				info.Flags |= UpstreamOverflow
				info.Details = "retry refused by the max_retries circuit breaker"
			} else if st.retries >= retry.NumRetries {
				info.Flags |= UpstreamRetryLimitExceeded
				info.Details = "retry limit exceeded after " + strconv.Itoa(info.Attempts) + " attempts"
			}
		}
		st.active = h
		if st.body != nil {
			st.body.stopRetries()
		}
		if res == nil {
			st.failure = f
			if err == nil {
				err = errPerTryTimeout
			}
			return nil, err
		}
		return res, nil
	}
}

// maxDrain is the largest response body of an abandoned attempt read to
// the end, so that its HTTP/1.1 connection can be reused.
const maxDrain = 4 << 10

// abandon drops an attempt that will be retried.
func (st *reqState) abandon(res *http.Response, h *upstream.Host) {
	if res != nil {
		if res.ContentLength >= 0 && res.ContentLength <= maxDrain {
			_, _ = io.CopyN(io.Discard, res.Body, maxDrain)
		}
		res.Body.Close()
	}
	h.Active.Add(-1)
	if st.reader != nil {
		st.reader.detach()
	}
	if st.attemptDone != nil {
		st.attemptDone(nil)
		st.attemptDone = nil
	}
	st.tried = append(st.tried, h)
}

// canReplay reports whether a retry can send the whole request body.
func (st *reqState) canReplay() bool {
	return !st.hasBody || st.body != nil && st.body.replayable()
}

// pickHost picks the endpoint of the next attempt. A retry under the
// previous_hosts predicate passes Avoid to the picker and re-picks up to
// host_selection_retry_max_attempts times while it gets a host already
// tried (Envoy then uses the last pick).
func (st *reqState) pickHost(retry *router.Retry) *upstream.Host {
	if st.retries == 0 || retry == nil || !retry.AvoidPreviousHosts {
		st.pick.Avoid = nil
		return st.cluster.Pick(&st.pick)
	}
	if st.avoid == nil {
		st.avoid = st.triedBefore
	}
	st.pick.Avoid = st.avoid
	var h *upstream.Host
	for range retry.HostSelectionMaxAttempts + 1 {
		h = st.cluster.Pick(&st.pick)
		if h == nil || !st.triedBefore(h) {
			break
		}
	}
	return h
}

func (st *reqState) triedBefore(h *upstream.Host) bool {
	for _, t := range st.tried {
		if t == h {
			return true
		}
	}
	return false
}

func isRefusedStream(err error) bool {
	return strings.Contains(err.Error(), "REFUSED_STREAM")
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// modifyResponse records the upstream response and applies the route's
// response headers, the hash cookie, the filters and the debug header.
func (s *Server) modifyResponse(st *reqState, res *http.Response) {
	st.res = res
	st.info.Status = res.StatusCode
	st.applyHeaders(st.target.ResponseHeaders, res.Header, res.Header)
	if st.setCookie != "" {
		res.Header["Set-Cookie"] = append(res.Header["Set-Cookie"], st.setCookie)
	}
	st.finishHeaders(res.StatusCode, res.Header, false)
}

// proxyError answers for a request that got no upstream response, with
// Envoy's status codes and bodies.
func (s *Server) proxyError(st *reqState, ctx context.Context, err error) {
	info := &st.info
	switch ctxErr := ctx.Err(); {
	case st.noHost:
		st.localReply(http.StatusServiceUnavailable, NoHealthyUpstream, "no healthy upstream", bodyNoHealthy, true)
	case errors.Is(ctxErr, context.DeadlineExceeded):
		st.localReply(http.StatusGatewayTimeout, UpstreamRequestTimeout, "upstream request timeout", bodyTimeout, true)
	case errors.Is(ctxErr, context.Canceled):
		info.Flags |= DownstreamConnectionTermination
		info.Details = "downstream connection termination"
	case st.failure == router.PerTryTimeout:
		st.localReply(http.StatusGatewayTimeout, UpstreamRequestTimeout, st.details("upstream per-try timeout"), bodyTimeout, true)
	case st.failure == router.ConnectFailure:
		body := bodyConnectFailure
		if reason := upstream.TransportFailure(err); reason != "" {
			body += ", transport failure reason: " + reason // Envoy's, for a failed TLS handshake
		}
		st.localReply(http.StatusServiceUnavailable, UpstreamConnectionFailure, st.details("upstream connect failure"), body, true)
	case st.failure == router.RefusedStream:
		st.localReply(http.StatusServiceUnavailable, UpstreamConnectionTermination, st.details("upstream refused the stream"), bodyRefused, true)
	default:
		st.localReply(http.StatusServiceUnavailable, UpstreamConnectionTermination, st.details("upstream connection termination"), bodyTermination, true)
	}
	s.opts.Log.Debug("hcm: upstream request failed", "listener", info.Listener, "cluster", info.Cluster,
		"upstream", info.UpstreamHost, "flags", info.Flags.String(), "attempts", info.Attempts, "error", err)
}

// details is a failure's reason, with the attempt count after retries.
func (st *reqState) details(reason string) string {
	if st.info.Attempts > 1 {
		return reason + " after " + strconv.Itoa(st.info.Attempts) + " attempts"
	}
	return reason
}
