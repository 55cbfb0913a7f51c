package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestAdmit(t *testing.T) {
	istio := &Thresholds{MaxConnections: 1, MaxPendingRequests: 1, MaxRequests: 1 << 31, MaxRetries: 3}
	for _, tt := range []struct {
		name     string
		proto    Protocol
		limits   *Thresholds
		conns    int // established connections
		admitted int // of 10 concurrent requests
	}{
		{"istio task: 1 connection + 1 pending", HTTP1, istio, 1, 2},
		{"istio task, connection not made yet: 1 pending", HTTP1, istio, 0, 1},
		{"connecting requests are pending", HTTP1, &Thresholds{MaxConnections: 10, MaxPendingRequests: 3, MaxRequests: 100}, 2, 5},
		{"max_requests below max_connections", HTTP1, &Thresholds{MaxConnections: 5, MaxPendingRequests: 5, MaxRequests: 3}, 5, 3},
		{"http2: max_requests only", H2C, &Thresholds{MaxConnections: 1, MaxPendingRequests: 1, MaxRequests: 4}, 0, 4},
		{"envoy defaults", HTTP1, nil, 0, 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := testManager()
			if err := m.UpdateClusters([]Config{{Name: "c", Type: Static, Protocol: tt.proto, Limits: tt.limits}}); err != nil {
				t.Fatal(err)
			}
			c := m.Get("c")
			c.conns.Add(int64(tt.conns))
			var releases []func()
			for range 10 {
				if rel, ok := c.Admit(); ok {
					releases = append(releases, rel)
				}
			}
			if len(releases) != tt.admitted {
				t.Fatalf("admitted %d, want %d", len(releases), tt.admitted)
			}
			if s := c.Stats(); s.Overflows != uint64(10-tt.admitted) {
				t.Errorf("overflows %d", s.Overflows)
			}
			// A config update keeps the counters: still full.
			if err := m.UpdateClusters([]Config{{Name: "c", Type: Static, Protocol: tt.proto, Limits: tt.limits, ConnectTimeout: time.Second}}); err != nil {
				t.Fatal(err)
			}
			if tt.admitted < 10 {
				if _, ok := c.Admit(); ok {
					t.Error("admitted beyond the limit after a config update")
				}
			}
			for _, r := range releases {
				r()
			}
			if rel, ok := c.Admit(); !ok {
				t.Error("not admitted after releases")
			} else {
				rel()
			}
		})
	}
}

func TestAdmitRetry(t *testing.T) {
	m := testManager()
	if err := m.UpdateClusters([]Config{{Name: "c", Type: Static}}); err != nil {
		t.Fatal(err)
	}
	c := m.Get("c")
	var rel []func()
	for range 5 {
		if r, ok := c.AdmitRetry(); ok {
			rel = append(rel, r)
		}
	}
	if len(rel) != 3 { // Envoy's default max_retries
		t.Fatalf("retries admitted %d, want 3", len(rel))
	}
	rel[0]()
	if _, ok := c.AdmitRetry(); !ok {
		t.Error("retry slot not freed")
	}
}

// TestMaxConnections sends 4 concurrent requests to a cluster with
// max_connections 1 and max_pending_requests 2 and an established
// connection: one is refused at once, three pass, one after the other over
// that connection.
func TestMaxConnections(t *testing.T) {
	var conns atomic.Int32
	release := make(chan struct{})
	var active, peak atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/warm" {
			return
		}
		n := active.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		active.Add(-1)
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	m := testManager()
	defer m.Close()
	if err := m.UpdateClusters([]Config{{Name: "c", Type: Static, ConnectTimeout: time.Second,
		Limits:    &Thresholds{MaxConnections: 1, MaxPendingRequests: 2, MaxRequests: 100, MaxRetries: 3},
		Endpoints: []EndpointConfig{{Address: srv.Listener.Addr().String(), Weight: 1}}}}); err != nil {
		t.Fatal(err)
	}
	c := m.Get("c")
	warm, _ := http.NewRequest("GET", "http://"+srv.Listener.Addr().String()+"/warm", nil)
	if resp, err := c.RoundTrip(warm); err != nil {
		t.Fatal(err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var wg sync.WaitGroup
	var ok, overflow atomic.Int32
	started := make(chan struct{}, 4)
	for range 4 {
		wg.Go(func() {
			rel, admitted := c.Admit()
			started <- struct{}{}
			if !admitted {
				overflow.Add(1)
				return
			}
			defer rel()
			req, _ := http.NewRequest("GET", "http://"+c.Pick(nil).Address+"/", nil)
			resp, err := c.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ok.Add(1)
		})
	}
	for range 4 {
		<-started
	}
	close(release)
	wg.Wait()
	if ok.Load() != 3 || overflow.Load() != 1 {
		t.Errorf("passed %d, overflowed %d; want 3 and 1", ok.Load(), overflow.Load())
	}
	if conns.Load() != 1 || peak.Load() != 1 {
		t.Errorf("%d upstream connections, %d concurrent requests; want 1 and 1", conns.Load(), peak.Load())
	}
	if s := c.Stats(); s.Connections != 1 || s.Requests != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestDialTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()

	m := testManager()
	od := DefaultOutlier
	od.Consecutive5xx, od.MaxEjectionPercent = 1, 100
	if err := m.UpdateClusters([]Config{
		{Name: "ok", Type: Static, ConnectTimeout: time.Second, Limits: &Thresholds{MaxConnections: 1},
			Endpoints: []EndpointConfig{{Address: ln.Addr().String(), Weight: 1}}},
		{Name: "dead", Type: Static, ConnectTimeout: time.Second, Outlier: &od,
			Endpoints: []EndpointConfig{{Address: deadAddr, Weight: 1}}},
		{Name: "empty", Type: Static},
	}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c1, h, err := m.Get("ok").DialTCP(ctx, nil)
	if err != nil || h.Active.Load() != 1 {
		t.Fatalf("dial: %v", err)
	}
	if _, _, err := m.Get("ok").DialTCP(ctx, nil); !errors.Is(err, ErrOverflow) {
		t.Errorf("second connection: %v, want overflow", err)
	}
	c1.Close()
	c1.Close()
	if h.Active.Load() != 0 || m.Get("ok").Stats().Connections != 0 {
		t.Errorf("after close: active %d, stats %+v", h.Active.Load(), m.Get("ok").Stats())
	}
	c2, _, err := m.Get("ok").DialTCP(ctx, nil)
	if err != nil {
		t.Fatalf("after close: %v", err)
	}
	c2.Close()
	if _, _, err := m.Get("empty").DialTCP(ctx, nil); !errors.Is(err, ErrNoHealthyUpstream) {
		t.Errorf("empty: %v", err)
	}
	if _, _, err := m.Get("dead").DialTCP(ctx, nil); !IsDialError(err) {
		t.Errorf("dead: %v", err)
	}
	// The connect failure ejected the only host (consecutive_5xx: 1).
	if _, _, err := m.Get("dead").DialTCP(ctx, nil); !errors.Is(err, ErrNoHealthyUpstream) {
		t.Errorf("dead after ejection: %v", err)
	}
}
