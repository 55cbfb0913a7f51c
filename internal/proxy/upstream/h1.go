package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
)

// h1Pool carries idempotent HTTP/1.1 requests without a body on the
// goroutine that sends them: it writes the request and reads the response
// head on the caller's goroutine, where http.Transport hands each request
// to its connection's writer goroutine and the response back from its
// reader goroutine. On a proxy that costs two goroutine switches and their
// wake-ups per request; most mesh traffic (GETs) takes this path. Anything
// else (bodies, upgrades, connection limits, HTTP/2) goes through the
// cluster's http.Transport.
//
// A connection is reused when its response was read to the end and
// neither side asked to close it. A connection the server closed while it
// was idle is found when it is used: the request, idempotent and not yet
// answered, is then sent once more on a new connection, as http.Transport
// does.
type h1Pool struct {
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	idleTimeout time.Duration // 0: no limit
	maxIdle     int           // per host

	mu     sync.Mutex
	idle   map[string][]*h1Conn // by host:port, most recently used last
	closed bool
}

type h1Conn struct {
	net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

func newH1Pool(dial func(ctx context.Context, network, addr string) (net.Conn, error), idleTimeout time.Duration) *h1Pool {
	return &h1Pool{dial: dial, idleTimeout: idleTimeout, maxIdle: 256, idle: map[string][]*h1Conn{}}
}

// h1Eligible says whether a request may take the pool: idempotent, with no
// body, no upgrade and no trailers, over plain HTTP.
func h1Eligible(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodDelete, http.MethodTrace:
	default:
		return false
	}
	return (req.Body == nil || req.Body == http.NoBody) && req.ContentLength == 0 &&
		req.URL.Scheme == "http" && len(req.Trailer) == 0 && req.Header.Get("Upgrade") == "" &&
		len(req.TransferEncoding) == 0
}

func (p *h1Pool) roundTrip(req *http.Request) (*http.Response, error) {
	addr := req.URL.Host
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "80")
	}
	for attempt := 0; ; attempt++ {
		pc, reused, err := p.get(req.Context(), addr)
		if err != nil {
			return nil, err
		}
		resp, err := p.exchange(pc, addr, req)
		if err == nil {
			return resp, nil
		}
		pc.Close()
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		if reused && attempt == 0 && closedWhileIdle(err) {
			continue
		}
		return nil, err
	}
}

// closedWhileIdle says whether err is what a kept-alive connection that
// the server had closed gives: the request could not be written, or
// nothing came back.
func closedWhileIdle(err error) bool {
	var nb errNothingBack
	return errors.As(err, &nb) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// errNothingBack is a connection that ended before the response's first
// byte.
type errNothingBack struct{ err error }

func (e errNothingBack) Error() string {
	return "upstream: connection closed before any response: " + e.err.Error()
}
func (e errNothingBack) Unwrap() error { return e.err }

// get returns an idle connection to addr, or a new one.
func (p *h1Pool) get(ctx context.Context, addr string) (*h1Conn, bool, error) {
	now := time.Now()
	p.mu.Lock()
	for conns := p.idle[addr]; len(conns) > 0; conns = p.idle[addr] {
		pc := conns[len(conns)-1]
		p.idle[addr] = conns[:len(conns)-1]
		if p.idleTimeout > 0 && now.Sub(pc.idleSince) > p.idleTimeout {
			pc.Close()
			continue
		}
		p.mu.Unlock()
		return pc, true, nil
	}
	p.mu.Unlock()
	conn, err := p.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	return &h1Conn{Conn: conn, br: bufio.NewReader(conn), bw: bufio.NewWriter(conn)}, false, nil
}

// put returns a connection whose response was read to the end.
func (p *h1Pool) put(addr string, pc *h1Conn) {
	pc.idleSince = time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle[addr]) >= p.maxIdle {
		p.mu.Unlock()
		pc.Close()
		return
	}
	p.idle[addr] = append(p.idle[addr], pc)
	p.mu.Unlock()
}

// closeIdle closes the idle connections; with stop, connections returned
// later are closed too (the pool was replaced).
func (p *h1Pool) closeIdle(stop bool) {
	p.mu.Lock()
	idle := p.idle
	p.idle = map[string][]*h1Conn{}
	p.closed = p.closed || stop
	p.mu.Unlock()
	for _, conns := range idle {
		for _, pc := range conns {
			pc.Close()
		}
	}
}

// aLongTimeAgo is a deadline in the past: it makes blocked reads and
// writes return at once.
var aLongTimeAgo = time.Unix(1, 0)

// exchange writes the request and reads the response head. The request's
// context aborts both through the connection's deadline.
func (p *h1Pool) exchange(pc *h1Conn, addr string, req *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(req.Context(), func() { pc.SetDeadline(aLongTimeAgo) })
	err := writeRequest(pc.bw, req)
	if err == nil {
		err = pc.bw.Flush()
	}
	if err == nil {
		// Nothing at all, rather than a broken response, is what a
		// connection closed while idle gives: Peek tells them apart
		// (ReadResponse reports both as an unexpected EOF).
		if _, err = pc.br.Peek(1); err != nil {
			err = errNothingBack{err}
		}
	}
	var resp *http.Response
	for err == nil {
		resp, err = http.ReadResponse(pc.br, req)
		if err != nil || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		// 1xx informational: the final response follows.
	}
	if err != nil {
		stop()
		return nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		stop()
		resp.Body.Close()
		return nil, errors.New("upstream: unexpected 101 Switching Protocols to a request without Upgrade")
	}
	b := &h1Body{body: resp.Body, pc: pc, pool: p, addr: addr, stop: stop, reuse: !resp.Close && !req.Close}
	if resp.Body == http.NoBody {
		b.finish(true)
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

// h1Body returns its connection to the pool once read to the end, and
// closes it when closed early or on an error.
type h1Body struct {
	body  io.ReadCloser
	pc    *h1Conn
	pool  *h1Pool
	addr  string
	stop  func() bool
	reuse bool
	done  bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.body.Read(p)
	if err != nil {
		b.finish(errors.Is(err, io.EOF))
	}
	return n, err
}

func (b *h1Body) Close() error {
	b.finish(false)
	return nil
}

func (b *h1Body) finish(eof bool) {
	if b.done {
		return
	}
	b.done = true
	// stop is false when the context already fired: the deadline is set.
	if stopped := b.stop(); eof && b.reuse && stopped {
		b.pool.put(b.addr, b.pc)
		return
	}
	b.pc.Close()
}

// writeRequest writes the head of a bodyless request (h1Eligible) in
// origin form, as req.Write does, without its formatting allocations: the
// request line, Host, then the headers as they are. A header that would
// break the framing is an error; line breaks in values become spaces. No
// User-Agent is added, and no Content-Length (GET, HEAD, OPTIONS, DELETE
// and TRACE without a body have none).
func writeRequest(w *bufio.Writer, req *http.Request) error {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !httpguts.ValidHostHeader(host) {
		return fmt.Errorf("upstream: invalid Host %q", host)
	}
	if !validMethod(req.Method) {
		return fmt.Errorf("upstream: invalid method %q", req.Method)
	}
	w.WriteString(req.Method)
	w.WriteByte(' ')
	u := req.URL
	switch {
	case u.Opaque != "":
		w.WriteString(u.Opaque)
	default:
		p := u.EscapedPath()
		if p == "" {
			p = "/"
		}
		w.WriteString(p)
	}
	if u.ForceQuery || u.RawQuery != "" {
		w.WriteByte('?')
		w.WriteString(u.RawQuery)
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	for k, vv := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("upstream: invalid header name %q", k)
		}
		for _, v := range vv {
			if v == "" && k == "User-Agent" {
				continue
			}
			w.WriteString(k)
			w.WriteString(": ")
			if strings.ContainsAny(v, "\r\n") {
				v = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(v)
			}
			w.WriteString(textproto.TrimString(v))
			w.WriteString("\r\n")
		}
	}
	_, err := w.WriteString("\r\n")
	return err
}

// validMethod reports whether m is an HTTP token.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if !httpguts.IsTokenRune(rune(m[i])) {
			return false
		}
	}
	return true
}
