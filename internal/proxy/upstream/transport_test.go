package upstream

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// connServer counts the connections it accepts.
func connServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, func() int) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			n++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func send(t *testing.T, c *Cluster) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+c.Pick(nil).Address+"/", nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestMaxRequestsPerConnection(t *testing.T) {
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	m := testManager()
	defer m.Close()
	if err := m.UpdateClusters([]Config{{Name: "c", Type: Static, ConnectTimeout: time.Second,
		Pool:      PoolConfig{MaxRequestsPerConnection: 3},
		Endpoints: []EndpointConfig{{Address: srv.Listener.Addr().String(), Weight: 1}}}}); err != nil {
		t.Fatal(err)
	}
	c := m.Get("c")
	for range 9 {
		send(t, c)
	}
	if n := conns(); n != 3 {
		t.Errorf("9 requests with max 3 per connection used %d connections, want 3", n)
	}
}

func TestIdleTimeout(t *testing.T) {
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	m := testManager()
	defer m.Close()
	if err := m.UpdateClusters([]Config{{Name: "c", Type: Static, ConnectTimeout: time.Second,
		Pool:      PoolConfig{IdleTimeout: 50 * time.Millisecond},
		Endpoints: []EndpointConfig{{Address: srv.Listener.Addr().String(), Weight: 1}}}}); err != nil {
		t.Fatal(err)
	}
	c := m.Get("c")
	send(t, c)
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Connections != 0 {
		if time.Now().After(deadline) {
			t.Fatal("idle connection not closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	send(t, c)
	if conns() != 2 {
		t.Errorf("connections %d, want 2", conns())
	}
}

// TestPoolChangeKeepsInFlight changes the connect timeout (a new pool)
// while a request is in flight: it completes on the old pool, whose
// connection is then closed, not left idle.
func TestPoolChangeKeepsInFlight(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{})
	srv, _ := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(arrived)
			<-release
		}
		io.WriteString(w, "ok")
	})
	m := testManager()
	defer m.Close()
	cfg := Config{Name: "c", Type: Static, ConnectTimeout: time.Second, Endpoints: []EndpointConfig{{Address: srv.Listener.Addr().String(), Weight: 1}}}
	if err := m.UpdateClusters([]Config{cfg}); err != nil {
		t.Fatal(err)
	}
	c := m.Get("c")
	old := c.Transport()
	done := make(chan string)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+srv.Listener.Addr().String()+"/slow", nil)
		resp, err := c.RoundTrip(req)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	<-arrived
	cfg.ConnectTimeout = 2 * time.Second
	if err := m.UpdateClusters([]Config{cfg}); err != nil {
		t.Fatal(err)
	}
	if c.Transport() == old {
		t.Fatal("pool not replaced")
	}
	// Unchanged pool settings keep the pool.
	cur := c.Transport()
	cfg.Outlier = &DefaultOutlier
	if err := m.UpdateClusters([]Config{cfg}); err != nil || c.Transport() != cur {
		t.Fatalf("pool replaced by an unrelated change: %v", err)
	}
	close(release)
	if got := <-done; got != "ok" {
		t.Fatalf("in-flight request: %s", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Connections != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the old pool's connection stayed open")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if send(t, c) != "ok" {
		t.Error("new pool")
	}
}

func TestPoolSettings(t *testing.T) {
	m := testManager()
	defer m.Close()
	if err := m.UpdateClusters([]Config{
		{Name: "h1", Limits: &Thresholds{MaxConnections: 8}, Pool: PoolConfig{IdleTimeout: time.Minute,
			TCPKeepalive: &Keepalive{Probes: 3, Time: 10 * time.Second}}},
		{Name: "h2", Protocol: H2C, Limits: &Thresholds{MaxConnections: 8}, Pool: PoolConfig{HTTP2: HTTP2Options{
			InitialStreamWindowSize: 1 << 20, KeepaliveInterval: time.Second, KeepaliveTimeout: 2 * time.Second}}},
		{Name: "istio", Limits: &Thresholds{MaxConnections: 4294967295}},
	}); err != nil {
		t.Fatal(err)
	}
	h1 := m.Get("h1").Transport()
	if h1.MaxConnsPerHost != 8 || h1.MaxIdleConnsPerHost != 8 || h1.IdleConnTimeout != time.Minute {
		t.Errorf("h1: %d %d %v", h1.MaxConnsPerHost, h1.MaxIdleConnsPerHost, h1.IdleConnTimeout)
	}
	if d := m.Get("h1").dialer.Load(); !d.KeepAliveConfig.Enable || d.KeepAliveConfig.Count != 3 || d.KeepAliveConfig.Idle != 10*time.Second || d.KeepAliveConfig.Interval != -1 {
		t.Errorf("keepalive %+v", d.KeepAliveConfig)
	}
	h2 := m.Get("h2").Transport()
	if h2.MaxConnsPerHost != 0 || h2.HTTP2.MaxReceiveBufferPerStream != 1<<20 || h2.HTTP2.SendPingTimeout != time.Second || !h2.Protocols.UnencryptedHTTP2() {
		t.Errorf("h2: %d %+v", h2.MaxConnsPerHost, h2.HTTP2)
	}
	if m.Get("istio").Transport().MaxConnsPerHost != 0 {
		t.Error("unlimited max_connections must not limit the transport")
	}
}
