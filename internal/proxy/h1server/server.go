// Package h1server serves the common case of a proxy's HTTP/1.1
// connections (keep-alive requests without upgrade, CONNECT or Expect)
// and hands every other connection, with the bytes already read, to
// net/http.
//
// A proxy's HTTP/1.1 requests are short and many: net/http's server spends
// on each a context and its cancel registrations, a goroutine that watches
// the connection while the handler runs, and a copy of the response's
// headers. This server parses requests with net/http's own parser
// (http.ReadRequest) and writes responses itself: the connection's context
// is the requests' context, the response's header map is reused, and the
// connection is only watched for the client going away once a request
// takes longer than a moment. HTTP/2 (prior knowledge), HTTP/1.0,
// upgrades, CONNECT, Expect: 100-continue, heads larger than the read
// buffer and malformed requests go to Fallback, which net/http serves with
// all its checks and error replies.
package h1server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Server serves HTTP/1.1 connections with Handler.
type Server struct {
	Handler http.Handler
	// Fallback serves a connection this server does not; the connection
	// replays what was read from it. It must not block for long.
	Fallback func(net.Conn)
	// BaseContext and ConnContext are as http.Server's.
	BaseContext func() context.Context
	ConnContext func(context.Context, net.Conn) context.Context
	// IdleTimeout ends a connection waiting this long for a request;
	// ReadHeaderTimeout one whose request head takes this long. 0: none.
	IdleTimeout       time.Duration
	ReadHeaderTimeout time.Duration
	Log               *slog.Logger

	mu       sync.Mutex
	conns    map[*conn]bool // true while idle
	shutdown bool
	down     atomic.Bool // shutdown, for responses: Connection: close
	wg       sync.WaitGroup
}

// ErrServerClosed is Serve's error once Shutdown or Close was called.
var ErrServerClosed = http.ErrServerClosed

// Serve accepts connections on ln and serves each on its own goroutine
// until ln fails or the server shuts down.
func (s *Server) Serve(ln net.Listener) error {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: retry, as net/http
			// does.
			if s.Log != nil {
				s.Log.Debug("h1server: accept", "error", err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.ServeConn(c)
	}
}

// ServeConn serves one connection on a goroutine of its own.
func (s *Server) ServeConn(rwc net.Conn) {
	c := &conn{s: s, rwc: rwc}
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		_ = rwc.Close()
		return
	}
	if s.conns == nil {
		s.conns = make(map[*conn]bool)
	}
	s.conns[c] = false
	s.wg.Add(1)
	s.mu.Unlock()
	go c.serve()
}

func (s *Server) closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutdown
}

// Shutdown stops serving new requests: idle connections are closed at
// once, the others after their current request. It returns once all are
// closed, or with ctx's error, leaving the rest to Close.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	s.down.Store(true)
	for c, idle := range s.conns {
		if idle {
			c.abortIdle()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close closes every connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.shutdown = true
	s.down.Store(true)
	for c := range s.conns {
		_ = c.rwc.Close()
	}
	s.mu.Unlock()
	return nil
}

// setIdle records whether c waits for a request; false: the server is
// shutting down and c must end.
func (s *Server) setIdle(c *conn, idle bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown && idle {
		return false
	}
	s.conns[c] = idle
	return true
}

func (s *Server) remove(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// watchDelay is how long a request runs before its connection is watched
// for the client going away (which cancels the request's context).
const watchDelay = 5 * time.Millisecond

// maxDrain is how much of a request body the handler left unread is read
// to keep the connection; past it the connection is closed, as net/http.
const maxDrain = 256 << 10

var aLongTimeAgo = time.Unix(1, 0)

// conn is one client connection.
type conn struct {
	s      *Server
	rwc    net.Conn
	ctx    context.Context
	cancel context.CancelFunc
	remote string
	cr     connReader
	br     *bufio.Reader
	bw     *bufio.Writer
	w      response
	head   []byte // the current request's head as read, for a fallback

	watch      *time.Timer
	watchMu    sync.Mutex
	watching   int // watchIdle, watchArmed, watchReading
	watchDone  chan struct{}
	watchBody  *requestBody
	clientGone bool
}

const (
	watchIdle = iota
	watchArmed
	watchReading
)

func (c *conn) serve() {
	defer c.s.remove(c)
	ctx := context.Background()
	if c.s.BaseContext != nil {
		ctx = c.s.BaseContext()
	}
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, c.rwc.LocalAddr()) // as net/http
	if c.s.ConnContext != nil {
		ctx = c.s.ConnContext(ctx, c.rwc)
	}
	c.ctx, c.cancel = context.WithCancel(ctx)
	defer c.cancel()
	c.remote = c.rwc.RemoteAddr().String()
	c.cr.c = c
	c.br = bufio.NewReaderSize(&c.cr, 4<<10)
	c.bw = bufio.NewWriterSize(c.rwc, 4<<10)
	c.w.c = c
	c.w.header = make(http.Header, 8)
	handedOff := false
	defer func() {
		if c.watch != nil {
			c.watch.Stop()
		}
		if !handedOff {
			_ = c.rwc.Close()
		}
	}()
	for {
		if !c.s.setIdle(c, true) {
			return
		}
		if d := c.s.IdleTimeout; d > 0 && c.br.Buffered() == 0 {
			_ = c.rwc.SetReadDeadline(time.Now().Add(d))
		}
		_, err := c.br.Peek(1)
		if !c.s.setIdle(c, false) || err != nil {
			return
		}
		if d := c.s.ReadHeaderTimeout; d > 0 {
			_ = c.rwc.SetReadDeadline(time.Now().Add(d))
		} else if c.s.IdleTimeout > 0 {
			_ = c.rwc.SetReadDeadline(time.Time{})
		}
		req, ok, err := c.readRequest()
		if err != nil {
			return
		}
		if !ok {
			handedOff = true
			c.handOff()
			return
		}
		if c.s.ReadHeaderTimeout > 0 {
			_ = c.rwc.SetReadDeadline(time.Time{})
		}
		if !c.serveRequest(req) {
			return
		}
	}
}

// readRequest reads the next request when this server serves it; ok false
// (and no error) when it is for the fallback.
func (c *conn) readRequest() (req *http.Request, ok bool, err error) {
	c.head = c.head[:0]
	n, err := c.peekHead()
	if err != nil || n == 0 {
		return nil, false, err
	}
	b, _ := c.br.Peek(n)
	c.head = append(c.head, b...)
	before := c.br.Buffered()
	req, err = http.ReadRequest(c.br)
	if err != nil || !servable(req) {
		// The fallback gets the whole head again: drop what the parser
		// left of it (it stops at a malformed line).
		if left := n - (before - c.br.Buffered()); left > 0 {
			_, _ = c.br.Discard(left)
		}
		return nil, false, nil
	}
	delete(req.Header, "Host")
	req.RemoteAddr = c.remote
	return req.WithContext(c.ctx), true, nil
}

// peekHead returns the length of the request head at the start of the read
// buffer, reading until it is there; 0 when it does not fit.
func (c *conn) peekHead() (int, error) {
	for {
		n := c.br.Buffered()
		b, _ := c.br.Peek(n)
		if i := headEnd(b); i > 0 {
			return i, nil
		}
		if n >= c.br.Size() {
			return 0, nil
		}
		if _, err := c.br.Peek(n + 1); err != nil {
			return 0, err
		}
	}
}

// headEnd is the length of the head at the start of b (through its empty
// line, CRLF or bare LF), 0 when b does not hold all of it.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0
		}
		i += j + 1
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		}
	}
}

// servable reports whether this server serves req: HTTP/1.1 without
// upgrade, CONNECT or Expect, with one valid Host and valid header fields
// (net/http answers the others with its checks).
func servable(req *http.Request) bool {
	if req.ProtoMajor != 1 || req.ProtoMinor != 1 || req.Method == http.MethodConnect {
		return false
	}
	h := req.Header
	if len(h["Upgrade"]) > 0 || len(h["Expect"]) > 0 || len(h["Http2-Settings"]) > 0 {
		return false
	}
	if hosts, ok := h["Host"]; ok && len(hosts) != 1 {
		return false
	}
	if req.Host == "" || !httpguts.ValidHostHeader(req.Host) {
		return false
	}
	for k, vv := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	return true
}

// handOff gives the connection to Fallback with what was read of it.
func (c *conn) handOff() {
	rest, _ := c.br.Peek(c.br.Buffered())
	prefix := make([]byte, 0, len(c.head)+len(rest))
	prefix = append(append(prefix, c.head...), rest...)
	_ = c.rwc.SetReadDeadline(time.Time{})
	c.s.Fallback(&replayConn{Conn: c.rwc, prefix: prefix})
}

// serveRequest runs the handler and finishes the response; false when the
// connection must end.
func (c *conn) serveRequest(req *http.Request) (keep bool) {
	w := &c.w
	w.reset(req)
	var body *requestBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &requestBody{r: req.Body}
		req.Body = body
	}
	if c.br.Buffered() == 0 {
		c.armWatch(body)
	}
	aborted := c.runHandler(w, req)
	c.stopWatch()
	if aborted {
		return false
	}
	if body != nil {
		if !body.finish() {
			w.closeAfter = true
		}
	}
	w.finish()
	if err := c.bw.Flush(); err != nil {
		return false
	}
	return !w.closeAfter && !req.Close && !c.clientGone && c.ctx.Err() == nil
}

// runHandler calls the handler; true when it aborted the response (a
// panic: http.ErrAbortHandler or a bug, logged), which ends the
// connection.
func (c *conn) runHandler(w *response, req *http.Request) (aborted bool) {
	defer func() {
		if p := recover(); p != nil {
			aborted = true
			if p != http.ErrAbortHandler && c.s.Log != nil {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.s.Log.Error("h1server: panic serving a request", "remote", c.remote, "panic", p, "stack", string(buf))
			}
		}
	}()
	c.s.Handler.ServeHTTP(w, req)
	return false
}

// armWatch starts, after watchDelay, watching the connection for the
// client going away while the handler runs, as net/http does from the
// start: a request with a body only once the body has been read.
func (c *conn) armWatch(body *requestBody) {
	c.watchMu.Lock()
	c.watching = watchArmed
	c.watchBody = body
	c.watchMu.Unlock()
	if c.watch == nil {
		c.watch = time.AfterFunc(watchDelay, c.startWatch)
	} else {
		c.watch.Reset(watchDelay)
	}
}

func (c *conn) startWatch() {
	c.watchMu.Lock()
	if c.watching != watchArmed {
		c.watchMu.Unlock()
		return
	}
	if b := c.watchBody; b != nil && b.pending() {
		// The handler may still read the body from the connection.
		c.watch.Reset(watchDelay)
		c.watchMu.Unlock()
		return
	}
	c.watching = watchReading
	done := make(chan struct{})
	c.watchDone = done
	c.watchMu.Unlock()
	go func() {
		defer close(done)
		n, err := c.rwc.Read(c.cr.byteBuf[:])
		c.watchMu.Lock()
		defer c.watchMu.Unlock()
		if n == 1 {
			c.cr.hasByte = true
		}
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout() && c.watching == watchIdle) {
			c.clientGone = true
			c.cancel()
		}
	}()
}

// stopWatch ends the watch of the request that finished.
func (c *conn) stopWatch() {
	if c.watch != nil {
		c.watch.Stop()
	}
	c.watchMu.Lock()
	reading := c.watching == watchReading
	done := c.watchDone
	c.watching = watchIdle
	c.watchDone = nil
	c.watchMu.Unlock()
	if reading {
		_ = c.rwc.SetReadDeadline(aLongTimeAgo)
		<-done
		_ = c.rwc.SetReadDeadline(time.Time{})
	}
}

// abortIdle ends an idle connection's wait for a request (Shutdown).
func (c *conn) abortIdle() { _ = c.rwc.SetReadDeadline(aLongTimeAgo) }

// connReader reads the connection, first the byte a watch read.
type connReader struct {
	c       *conn
	hasByte bool
	byteBuf [1]byte
}

func (r *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.hasByte {
		r.hasByte = false
		p[0] = r.byteBuf[0]
		return 1, nil
	}
	return r.c.rwc.Read(p)
}

// requestBody is a request's body as the handler sees it: once the
// handler returned, what it left is drained and later reads (a transport
// still sending it) fail instead of reading the next request.
type requestBody struct {
	mu     sync.Mutex
	r      io.ReadCloser
	eof    bool
	closed bool
	done   atomic.Bool // eof or closed, for the watch
}

func (b *requestBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.eof = true
		b.done.Store(true)
	}
	return n, err
}

// Close is a no-op for the handler: the server finishes the body.
func (b *requestBody) Close() error { return nil }

func (b *requestBody) pending() bool { return !b.done.Load() }

// finish drains what is left (up to maxDrain) and closes the body; false
// when the connection cannot be reused.
func (b *requestBody) finish() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	ok := b.eof
	if !ok && !b.closed {
		n, err := io.CopyN(io.Discard, b.r, maxDrain+1)
		ok = err == io.EOF && n <= maxDrain
	}
	b.closed = true
	b.done.Store(true)
	return ok
}

// replayConn is a connection handed to the fallback: reads return what
// was read of it first.
type replayConn struct {
	net.Conn
	prefix []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// NetConn returns the connection as accepted (as tls.Conn.NetConn).
func (c *replayConn) NetConn() net.Conn { return c.Conn }
