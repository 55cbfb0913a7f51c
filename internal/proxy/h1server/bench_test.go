package h1server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
)

// benchHandler answers as an upstream relayed by the proxy would: a few
// headers and a 1 KiB body of known length.
func benchHandler(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = []string{"application/octet-stream"}
	h["Content-Length"] = []string{"1024"}
	h["X-Envoy-Upstream-Service-Time"] = []string{"1"}
	_, _ = w.Write(benchBody)
}

var benchBody = make([]byte, 1024)

// BenchmarkServe is one keep-alive request and response over loopback
// through h1server; BenchmarkNetHTTP the same through net/http's server,
// for comparison. Allocations are the server's (the client's are few).
func BenchmarkServe(b *testing.B) {
	s := &Server{Handler: http.HandlerFunc(benchHandler), Fallback: func(c net.Conn) { c.Close() }}
	benchServer(b, s.Serve, func() { _ = s.Close() })
}

func BenchmarkNetHTTP(b *testing.B) {
	s := &http.Server{Handler: http.HandlerFunc(benchHandler)}
	benchServer(b, s.Serve, func() { _ = s.Close() })
}

func benchServer(b *testing.B, serve func(net.Listener) error, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = serve(ln)
	}()
	defer func() {
		ln.Close()
		stop()
		<-done
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET /bench HTTP/1.1\r\nHost: svc:8080\r\nUser-Agent: bench\r\nX-Request-Id: 6c5b8d2e-9a0f-4b1e-8e77-2f1d5c3a9b10\r\n\r\n")
	hreq := &http.Request{Method: "GET"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		res, err := http.ReadResponse(br, hreq)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, res.Body); err != nil || res.StatusCode != 200 {
			b.Fatal(res.StatusCode, err)
		}
	}
}
