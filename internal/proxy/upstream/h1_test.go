package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

var unlimited = Thresholds{MaxConnections: math.MaxUint32, MaxPendingRequests: math.MaxUint32,
	MaxRequests: math.MaxUint32, MaxRetries: math.MaxUint32}

// h1Cluster is a cluster whose bodyless GETs take the h1 pool (Istio's
// unlimited circuit breakers).
func h1Cluster(t *testing.T, addr string) *Cluster {
	t.Helper()
	m := testManager()
	t.Cleanup(m.Close)
	if err := m.UpdateClusters([]Config{{Name: "c", Type: Static, ConnectTimeout: time.Second, Limits: &unlimited,
		Endpoints: []EndpointConfig{{Address: addr, Weight: 1}}}}); err != nil {
		t.Fatal(err)
	}
	c := m.Get("c")
	if c.connPools().h1 == nil {
		t.Fatal("the cluster has no h1 pool")
	}
	return c
}

func get(t *testing.T, c *Cluster, method, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+c.Pick(nil).Address+path, nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestH1ReusesConnections(t *testing.T) {
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/chunked":
			w.Write([]byte("a"))
			w.(http.Flusher).Flush()
			w.Write([]byte("b"))
		default:
			io.WriteString(w, "ok")
		}
	})
	c := h1Cluster(t, srv.Listener.Addr().String())
	for range 5 {
		if _, body := get(t, c, "GET", "/"); body != "ok" {
			t.Fatalf("body %q", body)
		}
		if resp, _ := get(t, c, "HEAD", "/"); resp.StatusCode != 200 {
			t.Fatalf("HEAD: %d", resp.StatusCode)
		}
		if resp, _ := get(t, c, "GET", "/empty"); resp.StatusCode != 204 {
			t.Fatalf("204: %d", resp.StatusCode)
		}
		if _, body := get(t, c, "GET", "/chunked"); body != "ab" {
			t.Fatalf("chunked body %q", body)
		}
	}
	if n := conns(); n != 1 {
		t.Errorf("20 sequential requests used %d connections, want 1", n)
	}
}

func TestH1ClosesWhatCannotBeReused(t *testing.T) {
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, strings.Repeat("x", 64<<10))
	})
	c := h1Cluster(t, srv.Listener.Addr().String())
	get(t, c, "GET", "/close")
	get(t, c, "GET", "/")
	// A body closed before its end: the connection cannot carry another.
	req, _ := http.NewRequest("GET", "http://"+c.Pick(nil).Address+"/", nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Read(make([]byte, 10))
	resp.Body.Close()
	get(t, c, "GET", "/")
	if n := conns(); n != 3 {
		t.Errorf("connections = %d, want 3 (one closed by the server, one abandoned, one reused)", n)
	}
}

// rawServer answers each connection with fn.
func rawServer(t *testing.T, fn func(conn net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				fn(conn, bufio.NewReader(conn))
			}()
		}
	}()
	return ln.Addr().String()
}

func TestH1RetriesAConnectionClosedWhileIdle(t *testing.T) {
	// Each connection answers one request, keeps alive, then closes
	// without a word: the next request on it must go out again on a new
	// connection.
	addr := rawServer(t, func(conn net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		http.ReadRequest(br) // the next request is read, never answered
	})
	c := h1Cluster(t, addr)
	for i := range 3 {
		if _, body := get(t, c, "GET", "/"); body != "ok" {
			t.Fatalf("request %d: body %q", i, body)
		}
	}
}

func TestH1SkipsInformationalResponses(t *testing.T) {
	addr := rawServer(t, func(conn net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(conn, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	c := h1Cluster(t, addr)
	if resp, body := get(t, c, "GET", "/"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

func TestH1CancelAbortsAWaitingRequest(t *testing.T) {
	addr := rawServer(t, func(conn net.Conn, br *bufio.Reader) {
		http.ReadRequest(br)
		io.Copy(io.Discard, br) // never answers
	})
	c := h1Cluster(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
	start := time.Now()
	_, err := c.RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %s", d)
	}
}

func TestH1LeavesBodiesToTheTransport(t *testing.T) {
	for _, tc := range []struct {
		method string
		body   io.Reader
		header string
		want   bool
	}{
		{"GET", nil, "", true},
		{"DELETE", nil, "", true},
		{"POST", nil, "", false},
		{"PUT", strings.NewReader("x"), "", false},
		{"GET", strings.NewReader("x"), "", false},
		{"GET", nil, "websocket", false},
	} {
		req, _ := http.NewRequest(tc.method, "http://a:80/", tc.body)
		if tc.header != "" {
			req.Header.Set("Upgrade", tc.header)
		}
		if got := h1Eligible(req); got != tc.want {
			t.Errorf("%s body=%v upgrade=%q: eligible %v, want %v", tc.method, tc.body != nil, tc.header, got, tc.want)
		}
	}
}

// writeRequest's head reads back as the request it was given, as
// req.Write's does.
func TestH1WriteRequest(t *testing.T) {
	for _, target := range []string{"http://svc:8080/", "http://svc/a%2Fb/c?x=1&y=%20", "http://svc/p?", "http://[::1]:80/x"} {
		req, err := http.NewRequest("GET", target, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header["X-Multi"] = []string{"a", "b"}
		req.Header["X-Newline"] = []string{"a\r\nInjected: 1"}
		req.Header["User-Agent"] = []string{""}
		var b bytes.Buffer
		bw := bufio.NewWriter(&b)
		if err := writeRequest(bw, req); err != nil {
			t.Fatal(err)
		}
		bw.Flush()
		got, err := http.ReadRequest(bufio.NewReader(&b))
		if err != nil {
			t.Fatalf("%s: %v\n%s", target, err, b.String())
		}
		if got.Method != "GET" || got.RequestURI != req.URL.RequestURI() || got.Host != req.URL.Host {
			t.Errorf("%s: read back %s %s host %s", target, got.Method, got.RequestURI, got.Host)
		}
		if !slices.Equal(got.Header["X-Multi"], []string{"a", "b"}) || got.Header.Get("X-Newline") != "a Injected: 1" ||
			got.Header.Get("Injected") != "" || got.Header["User-Agent"] != nil || got.ContentLength != 0 {
			t.Errorf("%s: headers %v, length %d", target, got.Header, got.ContentLength)
		}
	}
	bad, _ := http.NewRequest("GET", "http://svc/", nil)
	bad.Header["Bad Name"] = []string{"x"}
	if err := writeRequest(bufio.NewWriter(io.Discard), bad); err == nil {
		t.Error("a header name with a space was written")
	}
	bad.Header = http.Header{}
	bad.Host = "svc\r\nX: y"
	if err := writeRequest(bufio.NewWriter(io.Discard), bad); err == nil {
		t.Error("a Host with a line break was written")
	}
}
