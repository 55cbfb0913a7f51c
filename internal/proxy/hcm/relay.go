package hcm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/net/http/httpguts"
)

// relay is the forwarding half of Envoy's router filter once a cluster is
// chosen: it turns the downstream request into the upstream one (in
// place: the downstream request is this request's own, and Envoy's router
// too edits the one header map it has), runs the attempts, and streams the
// response back with its trailers, or answers the failure. It does what
// net/http/httputil.ReverseProxy does for a proxy, without its per-request
// copies of the request and its headers, its context and trace hooks, and
// its header-by-header copy of the response.
func (s *Server) relay(st *reqState, ctx context.Context) {
	in := st.r
	out := &st.outReq
	*out = *in // the downstream's context, unless the route has a timeout
	if ctx != in.Context() {
		out = in.WithContext(ctx)
	}
	st.outURL = *in.URL
	out.URL = &st.outURL
	out.Close = false
	if in.ContentLength == 0 {
		out.Body = nil // no body: lets the transport resend the request on a dead kept-alive connection
	} else if out.Body != nil {
		// The transport closes the body it was given when the attempt
		// fails; the downstream body is not its to close.
		out.Body = noCloseBody{out.Body}
	}
	if out.Header == nil {
		out.Header = make(http.Header)
	}
	up := upgradeType(out.Header)
	if up != "" && !printable(up) {
		st.localReply(http.StatusBadRequest, 0, "invalid upgrade", "invalid upgrade protocol", false)
		return
	}
	trailers := httpguts.HeaderValuesContainsToken(out.Header["Te"], "trailers")
	removeHopByHop(out.Header)
	if trailers {
		out.Header["Te"] = teTrailers
	}
	if up != "" {
		out.Header["Connection"] = connUpgrade
		out.Header["Upgrade"] = []string{up}
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = noUserAgent // the Go client adds its own to a request without one
	}
	s.rewrite(st, out, in)

	res, err := st.roundTrip(out)
	if err != nil {
		s.proxyError(st, ctx, err)
		return
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		s.upgrade(st, ctx, out, res)
		return
	}
	removeHopByHop(res.Header)
	s.modifyResponse(st, res)
	h := st.cw.Header()
	maps.Copy(h, res.Header) // the response's headers are this request's own: the values are not copied
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		h["Trailer"] = append(h["Trailer"], strings.Join(keys, ", "))
	}
	st.cw.WriteHeader(res.StatusCode)

	if rerr, werr := st.copyBody(res); rerr != nil || werr != nil {
		res.Body.Close()
		info := &st.info
		switch {
		case werr != nil, errors.Is(ctx.Err(), context.Canceled):
			// The client went away: net/http cancels the request's
			// context, which ends the upstream read too.
			info.Flags |= DownstreamConnectionTermination
			info.Details = "downstream connection termination while the response was sent"
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			info.Flags |= UpstreamRequestTimeout
			info.Details = "upstream request timeout after the response started"
		default:
			info.Flags |= UpstreamRemoteReset
			info.Details = "upstream reset after the response started"
		}
		// The response has started: all that is left is to abort the
		// downstream stream (net/http recovers this panic).
		panic(http.ErrAbortHandler)
	}
	res.Body.Close() // reads the trailers
	if len(res.Trailer) == 0 {
		return
	}
	// A response with trailers goes out chunked, even a short one.
	st.cw.Flush()
	if len(res.Trailer) == announced {
		maps.Copy(h, res.Trailer)
		return
	}
	for k, vv := range res.Trailer {
		k = http.TrailerPrefix + k
		h[k] = append(h[k], vv...)
	}
}

var (
	teTrailers  = []string{"trailers"}
	connUpgrade = []string{"Upgrade"}
	noUserAgent = []string{""}
)

// copyBody streams the response body downstream and returns the read or
// write error that stopped it. A response of unknown length (streaming,
// gRPC) or of server-sent events is flushed after every read, as it
// comes; a response of known length is left to net/http's buffering.
func (st *reqState) copyBody(res *http.Response) (rerr, werr error) {
	stream := res.ContentLength == -1 || isEventStream(res.Header)
	if stream {
		st.cw.Flush() // the headers, before a body that may be long in coming
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, err := res.Body.Read(buf)
		if n > 0 {
			if _, werr = st.cw.Write(buf[:n]); werr != nil {
				return nil, werr
			}
			if stream {
				st.cw.Flush()
			}
		}
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return err, nil
		}
	}
}

// copyBufs holds the buffers responses are copied with.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func isEventStream(h http.Header) bool {
	ct := h["Content-Type"]
	if len(ct) == 0 || len(ct[0]) < len("text/event-stream") || (ct[0][0]|0x20) != 't' {
		return false
	}
	base, _, _ := strings.Cut(ct[0], ";")
	return strings.EqualFold(strings.TrimSpace(base), "text/event-stream")
}

// hopByHop are the headers of one connection, never forwarded (RFC 9110
// section 7.6.1, and the older ones proxies still remove).
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// removeHopByHop removes the hop-by-hop headers, and those the Connection
// header names.
func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = strings.TrimSpace(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, k := range hopByHop {
		delete(h, k)
	}
}

// upgradeType is the protocol a request or response upgrades to, or "".
func upgradeType(h http.Header) string {
	if !httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// noCloseBody hides the downstream body's Close from the transport.
type noCloseBody struct{ io.Reader }

func (noCloseBody) Close() error { return nil }

// upgrade completes a protocol switch (WebSocket and the like): the
// upstream's 101 goes downstream on the hijacked connection, then bytes
// are copied both ways until either side ends or the request's context
// does.
func (s *Server) upgrade(st *reqState, ctx context.Context, out *http.Request, res *http.Response) {
	reqUp, resUp := upgradeType(out.Header), upgradeType(res.Header)
	back, ok := res.Body.(io.ReadWriteCloser)
	var err error
	switch {
	case !printable(resUp):
		err = fmt.Errorf("hcm: upstream switched to an invalid protocol %q", resUp)
	case !strings.EqualFold(reqUp, resUp):
		err = fmt.Errorf("hcm: upstream switched to protocol %q, the request asked for %q", resUp, reqUp)
	case !ok:
		err = errors.New("hcm: 101 Switching Protocols without a connection to switch")
	}
	if err != nil {
		res.Body.Close()
		st.localReply(http.StatusBadGateway, UpstreamProtocolError, err.Error(), "upstream protocol error", false)
		return
	}
	s.modifyResponse(st, res)
	conn, brw, err := http.NewResponseController(st.cw.w).Hijack()
	if err != nil {
		// HTTP/2 downstream: no connection to hand over.
		back.Close()
		st.info.Status = 0
		st.localReply(http.StatusBadGateway, UpstreamProtocolError, "hcm: switching protocols: "+err.Error(), "upstream protocol error", false)
		return
	}
	defer conn.Close()
	defer back.Close()
	stop := context.AfterFunc(ctx, func() { back.Close() })
	defer stop()

	h := st.cw.Header()
	maps.Copy(h, res.Header)
	res.Header = h
	res.Body = nil
	if err := res.Write(brw); err != nil {
		return
	}
	if err := brw.Flush(); err != nil {
		return
	}
	errc := make(chan error, 2)
	go func() {
		n, err := io.Copy(conn, back)
		st.cw.n += n
		errc <- err
	}()
	go func() {
		// What the client sent after its request is already in brw.
		n, err := io.Copy(back, brw)
		st.info.RequestBytes += n
		errc <- err
	}()
	<-errc
	conn.Close()
	back.Close()
	<-errc
}
