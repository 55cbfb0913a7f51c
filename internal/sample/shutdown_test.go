package sample_test

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/sample"
)

// In-flight requests finish during a graceful shutdown.
func TestShutdownIsGraceful(t *testing.T) {
	addr, stop := startStoppable(t, sample.Options{})
	c := http1Client(t)
	type result struct {
		status int
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := c.Get("http://" + addr + "/?delay=300ms")
		if err != nil {
			res <- result{err: err}
			return
		}
		resp.Body.Close()
		res <- result{status: resp.StatusCode}
	}()
	time.Sleep(100 * time.Millisecond) // let the request arrive
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if r := <-res; r.err != nil || r.status != http.StatusOK {
		t.Errorf("in-flight request: status %d, err %v; want 200", r.status, r.err)
	}
	if _, err := c.Get("http://" + addr + "/"); err == nil {
		t.Error("request after shutdown succeeded")
	}
}

// After the shutdown timeout, in-flight requests are cancelled and Run
// returns.
func TestShutdownTimeout(t *testing.T) {
	addr, stop := startStoppable(t, sample.Options{ShutdownTimeout: 100 * time.Millisecond})
	errc := make(chan error, 1)
	go func() {
		_, err := http1Client(t).Get("http://" + addr + "/?delay=1m")
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	begin := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if elapsed := time.Since(begin); elapsed > 20*time.Second {
		t.Errorf("Run took %v to return", elapsed)
	}
	if err := <-errc; err == nil {
		t.Error("request delayed 1m succeeded")
	}
}

// No goroutine started by Run outlives it.
func TestNoGoroutineOutlivesRun(t *testing.T) {
	rec := start(t, sample.Options{}) // a downstream that outlives the checked instance
	before := runtime.NumGoroutine()
	addr, stop := startStoppable(t, sample.Options{Calls: []string{"http://" + rec + "/"}})
	for _, c := range []*http.Client{http1Client(t), h2cClient(t)} {
		fetch(t, c, "http://"+addr+"/?delay=10ms", nil)
		c.CloseIdleConnections()
	}
	conn := dial(t, addr)
	if _, err := sample.EchoStream(timeout(t), conn, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after Run, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func TestRunListenError(t *testing.T) {
	err := sample.Run(context.Background(), sample.Options{Addr: "127.0.0.1:notaport"})
	if err == nil || !strings.HasPrefix(err.Error(), "sample: ") {
		t.Errorf("Run with a bad address = %v, want a sample: error", err)
	}
	var opErr interface{ Timeout() bool }
	if !errors.As(err, &opErr) {
		t.Errorf("error %v does not wrap the listen error", err)
	}
}

func TestRunCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- sample.Run(ctx, sample.Options{Addr: "127.0.0.1:0"}) }()
	select {
	case <-done: // either a listen error or an immediate clean stop
	case <-time.After(10 * time.Second):
		t.Fatal("Run with a cancelled context did not return")
	}
}
