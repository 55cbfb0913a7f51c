package h1server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// chanListener is the fallback's listener: the connections handed over.
type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *chanListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// served is what a test server saw: which server handled each request.
type served struct {
	mu  sync.Mutex
	via []string
}

func (s *served) add(v string) {
	s.mu.Lock()
	s.via = append(s.via, v)
	s.mu.Unlock()
}

func (s *served) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.via...)
}

type viaKey struct{}

// start runs a Server with h on a port of its own, net/http behind it for
// what it hands over; the handler's context tells which one served.
func start(t *testing.T, h http.HandlerFunc) (string, *Server, *served) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sv := &served{}
	fb := &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
	std := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sv.add("net/http")
			h(w, r)
		}),
		Protocols: func() *http.Protocols {
			var p http.Protocols
			p.SetHTTP1(true)
			p.SetUnencryptedHTTP2(true)
			return &p
		}(),
	}
	s := &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sv.add("h1server")
			h(w, r)
		}),
		Fallback: func(c net.Conn) {
			select {
			case fb.ch <- c:
			case <-fb.done:
				c.Close()
			}
		},
		IdleTimeout:       time.Minute,
		ReadHeaderTimeout: time.Minute,
		Log:               slog.New(slog.DiscardHandler),
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = std.Serve(fb) })
	wg.Go(func() { _ = s.Serve(ln) })
	t.Cleanup(func() {
		ln.Close()
		_ = s.Close()
		_ = std.Close()
		wg.Wait()
	})
	return ln.Addr().String(), s, sv
}

// client is a raw HTTP/1.1 connection.
type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

func (c *client) send(raw string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, raw); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one response to a request of method and returns it with its
// body.
func (c *client) read(method string) (*http.Response, string) {
	c.t.Helper()
	res, err := http.ReadResponse(c.br, &http.Request{Method: method})
	for err == nil && res.StatusCode < 200 {
		res, err = http.ReadResponse(c.br, &http.Request{Method: method}) // 100 Continue
	}
	if err != nil {
		c.t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return res, string(b)
}

func TestKeepAliveFraming(t *testing.T) {
	big := strings.Repeat("x", 3*holdBody)
	addr, _, sv := start(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		case "/small":
			w.Header()["Content-Type"] = []string{"text/plain"}
			io.WriteString(w, "short")
		case "/big":
			io.WriteString(w, big)
		case "/flush":
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			io.WriteString(w, "b")
		case "/trailers":
			w.Header().Set("Trailer", "Grpc-Status")
			w.WriteHeader(200)
			io.WriteString(w, "t")
			w.Header().Set("Grpc-Status", "0")
			w.Header().Set(http.TrailerPrefix+"X-Late", "1")
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Host", r.Host)
			if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
				w.Header().Set("X-Local", a.String())
			}
			w.Header().Set("X-Remote", r.RemoteAddr)
			w.Write(b)
		case "/after":
			w.WriteHeader(201)
			w.Header().Set("X-After", "1") // too late: not sent
		}
	})
	c := dial(t, addr)
	cases := []struct {
		req, method string
		status      int
		body        string
		cl          int64
		check       func(*http.Response) string
	}{
		{"GET /length HTTP/1.1\r\nHost: a\r\n\r\n", "GET", 200, "hello", 5, nil},
		{"GET /small HTTP/1.1\r\nHost: a\r\n\r\n", "GET", 200, "short", 5, func(r *http.Response) string {
			if r.Header.Get("Content-Type") != "text/plain" || r.Header.Get("Date") == "" {
				return "headers " + r.Header.Get("Content-Type") + " date " + r.Header.Get("Date")
			}
			return ""
		}},
		{"GET /big HTTP/1.1\r\nHost: a\r\n\r\n", "GET", 200, big, -1, nil},
		{"GET /flush HTTP/1.1\r\nHost: a\r\n\r\n", "GET", 200, "ab", -1, nil},
		{"GET /trailers HTTP/1.1\r\nHost: a\r\n\r\n", "GET", 200, "t", -1, func(r *http.Response) string {
			if r.Trailer.Get("Grpc-Status") != "0" || r.Trailer.Get("X-Late") != "1" {
				return "trailers " + strings.Join([]string{r.Trailer.Get("Grpc-Status"), r.Trailer.Get("X-Late")}, ",")
			}
			return ""
		}},
		{"HEAD /length HTTP/1.1\r\nHost: a\r\n\r\n", "HEAD", 200, "", 5, nil},
		{"GET /nocontent HTTP/1.1\r\nHost: a\r\n\r\n", "GET", 204, "", 0, nil},
		{"POST /echo HTTP/1.1\r\nHost: b:80\r\nContent-Length: 4\r\n\r\nbody", "POST", 200, "body", 4, func(r *http.Response) string {
			if r.Header.Get("X-Host") != "b:80" {
				return "host " + r.Header.Get("X-Host")
			}
			if r.Header.Get("X-Local") != c.c.RemoteAddr().String() || r.Header.Get("X-Remote") != c.c.LocalAddr().String() {
				return "addresses " + r.Header.Get("X-Local") + " " + r.Header.Get("X-Remote")
			}
			return ""
		}},
		{"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "POST", 200, "abc", 3, nil},
		{"GET /after HTTP/1.1\r\nHost: a\r\n\r\n", "GET", 201, "", 0, func(r *http.Response) string {
			if r.Header.Get("X-After") != "" {
				return "a header set after WriteHeader was sent"
			}
			return ""
		}},
	}
	for _, tc := range cases {
		c.send(tc.req)
		res, body := c.read(tc.method)
		if res.StatusCode != tc.status || body != tc.body || res.ContentLength != tc.cl {
			t.Errorf("%q: %d %q (length %d), want %d %q (length %d)", tc.req, res.StatusCode, trunc(body), res.ContentLength, tc.status, trunc(tc.body), tc.cl)
		}
		if tc.check != nil {
			if msg := tc.check(res); msg != "" {
				t.Errorf("%q: %s", tc.req, msg)
			}
		}
		if res.Close {
			t.Fatalf("%q: the connection was closed", tc.req)
		}
	}
	for _, v := range sv.list() {
		if v != "h1server" {
			t.Errorf("served by %v, want h1server only", sv.list())
			break
		}
	}
}

func trunc(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// TestFallback: what h1server does not serve reaches net/http with every
// byte the client sent.
func TestFallback(t *testing.T) {
	addr, _, sv := start(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Proto", r.Proto)
		io.WriteString(w, r.Method+" "+r.URL.Path+" "+string(b))
	})
	long := strings.Repeat("v", 8<<10)
	cases := []struct {
		name, req, method string
		status            int
		body              string
	}{
		{"HTTP/1.0", "GET /old HTTP/1.0\r\nHost: a\r\n\r\n", "GET", 200, "GET /old "},
		{"Expect", "POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok", "POST", 200, "POST /e ok"},
		{"head larger than the buffer", "GET /long HTTP/1.1\r\nHost: a\r\nX-Long: " + long + "\r\n\r\n", "GET", 200, "GET /long "},
		{"no Host", "GET /nohost HTTP/1.1\r\n\r\n", "GET", 400, ""},
		{"bad header name", "GET /bad HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", "GET", 400, ""},
		{"malformed request line", "GET\r\nHost: a\r\n\r\n", "GET", 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			c.send(tc.req)
			res, body := c.read(tc.method)
			if res.StatusCode != tc.status || (tc.body != "" && body != tc.body) {
				t.Errorf("%d %q, want %d %q", res.StatusCode, trunc(body), tc.status, trunc(tc.body))
			}
		})
	}
	// A keep-alive connection is served by h1server until a request it
	// hands over; net/http then serves the rest.
	n := len(sv.list())
	c := dial(t, addr)
	c.send("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
	c.read("GET")
	c.send("GET /2 HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n")
	_, b2 := c.read("GET")
	_, b3 := c.read("GET")
	if got := sv.list()[n:]; strings.Join(got, ",") != "h1server,net/http,net/http" || b2 != "GET /2 " || b3 != "GET /3 " {
		t.Errorf("served by %v with %q, %q; want h1server, then net/http twice", got, b2, b3)
	}
}

// TestH2CPriorKnowledge: an HTTP/2 connection goes to net/http whole.
func TestH2CPriorKnowledge(t *testing.T) {
	addr, _, sv := start(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	})
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	cl := &http.Client{Transport: &http.Transport{Protocols: &p}}
	res, err := cl.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	cl.CloseIdleConnections()
	if string(b) != "HTTP/2.0" || strings.Join(sv.list(), ",") != "net/http" {
		t.Errorf("got %q served by %v, want HTTP/2.0 by net/http", b, sv.list())
	}
}

// TestClientGoneCancels: a client that goes away while its request is
// being served cancels the request's context.
func TestClientGoneCancels(t *testing.T) {
	cancelled := make(chan error, 1)
	addr, _, _ := start(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			cancelled <- r.Context().Err()
		case <-time.After(10 * time.Second):
			cancelled <- errors.New("not cancelled")
		}
	})
	c := dial(t, addr)
	c.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	c.c.Close() // the watch, once started, reads the end of the connection
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("request context: %v, want cancelled", err)
	}
}

// TestSlowRequestKeepsConnection: a request long enough to be watched
// leaves the connection usable, pipelined request included.
func TestSlowRequestKeepsConnection(t *testing.T) {
	addr, _, _ := start(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(4 * watchDelay)
		}
		io.WriteString(w, r.URL.Path)
	})
	c := dial(t, addr)
	for range 3 {
		c.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
		if res, b := c.read("GET"); res.StatusCode != 200 || b != "/slow" {
			t.Fatalf("%d %q", res.StatusCode, b)
		}
	}
	c.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n")
	_, b1 := c.read("GET")
	_, b2 := c.read("GET")
	if b1 != "/slow" || b2 != "/next" {
		t.Fatalf("pipelined: %q, %q", b1, b2)
	}
}

// TestAbortAndShortBody: a handler that aborts (http.ErrAbortHandler) or
// writes less than its Content-Length ends the connection; a panic does
// not take the server down.
func TestAbortAndShortBody(t *testing.T) {
	addr, _, _ := start(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/abort":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "part")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case "/short":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "part")
		case "/bug":
			panic("bug")
		}
		io.WriteString(w, "ok")
	})
	for _, path := range []string{"/abort", "/short", "/bug"} {
		c := dial(t, addr)
		c.send("GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n")
		res, err := http.ReadResponse(c.br, nil)
		if err == nil {
			_, err = io.ReadAll(res.Body)
		}
		if err == nil {
			t.Errorf("%s: a whole response", path)
		}
	}
	c := dial(t, addr)
	c.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
	if _, b := c.read("GET"); b != "ok" {
		t.Fatalf("after the panics: %q", b)
	}
}

// TestUnreadBody: a body the handler does not read is drained, so the next
// request on the connection is read right; later reads of it fail.
func TestUnreadBody(t *testing.T) {
	var kept io.Reader
	addr, _, _ := start(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ignore" {
			kept = r.Body
		}
		io.WriteString(w, r.URL.Path)
	})
	c := dial(t, addr)
	c.send("POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\nHost: a\r\n\r\n")
	_, b1 := c.read("POST")
	_, b2 := c.read("GET")
	if b1 != "/ignore" || b2 != "/next" {
		t.Fatalf("%q, %q", b1, b2)
	}
	if _, err := kept.Read(make([]byte, 1)); !errors.Is(err, http.ErrBodyReadAfterClose) {
		t.Fatalf("read after the handler: %v", err)
	}
}

// TestConnectionClose: Connection: close from the client or the handler
// ends the connection after the response.
func TestConnectionClose(t *testing.T) {
	addr, _, _ := start(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, "ok")
	})
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /close HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		c := dial(t, addr)
		c.send(req)
		res, _ := c.read("GET")
		if !res.Close {
			t.Errorf("%q: no Connection: close", req)
		}
		if _, err := c.br.ReadByte(); err != io.EOF {
			t.Errorf("%q: connection still open (%v)", req, err)
		}
	}
}

// TestShutdown: idle connections close at once, a request in progress
// finishes, then Shutdown returns.
func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	addr, s, _ := start(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			close(entered)
			<-release
		}
		io.WriteString(w, r.URL.Path)
	})
	idle := dial(t, addr)
	idle.send("GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
	idle.read("GET")
	busy := dial(t, addr)
	busy.send("GET /wait HTTP/1.1\r\nHost: a\r\n\r\n")
	<-entered
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	if _, err := idle.br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a request in progress", err)
	default:
	}
	close(release)
	if res, b := busy.read("GET"); b != "/wait" || !res.Close {
		t.Fatalf("request in progress: %q close=%v", b, res.Close)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
