package sample_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/sample"
)

// start runs a sample on 127.0.0.1:0 and returns its address. The sample is
// stopped, and Run's result checked, when the test ends.
func start(t *testing.T, o sample.Options) string {
	t.Helper()
	addr, stop := startStoppable(t, o)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return addr
}

// startStoppable runs a sample and returns its address and a function that
// cancels Run and returns its error.
func startStoppable(t *testing.T, o sample.Options) (string, func() error) {
	t.Helper()
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	ready := make(chan net.Addr, 1)
	o.Ready = func(a net.Addr) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sample.Run(ctx, o) }()
	select {
	case a := <-ready:
		stop := func() error {
			cancel()
			return <-done
		}
		return a.String(), stop
	case err := <-done:
		cancel()
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("sample not ready after 5s")
	}
	return "", nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// http1Client returns an HTTP/1.1 client that ignores proxy settings.
func http1Client(t *testing.T) *http.Client {
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// h2cClient returns a client speaking HTTP/2 with prior knowledge.
func h2cClient(t *testing.T) *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Proxy: nil, Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// get sends a GET and returns the status, headers and body.
func get(t *testing.T, c *http.Client, url string, hdr http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", url, err)
	}
	return resp.StatusCode, resp.Header, body
}

// fetch calls sample.Fetch and fails the test on error.
func fetch(t *testing.T, c *http.Client, url string, hdr http.Header) (*sample.Reply, int) {
	t.Helper()
	r, status, err := sample.Fetch(context.Background(), c, url, hdr)
	if err != nil {
		t.Fatalf("Fetch %s: %v", url, err)
	}
	return r, status
}

// closedAddr returns an address on which nothing listens.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
	return addr
}
