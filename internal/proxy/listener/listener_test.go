package listener

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/router"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

type noRoutes struct{}

func (noRoutes) RouteTable(string) *router.Table { return nil }

func newTestManager(t *testing.T) (*Manager, *upstream.Manager) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	um := upstream.NewManager(log)
	m := NewManager(Options{
		HCM:          hcm.NewServer(hcm.Options{Routes: noRoutes{}, Clusters: um, Log: log}),
		Clusters:     um,
		Log:          log,
		DrainTimeout: time.Second,
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return m, um
}

func inlineHTTP(t *testing.T, cluster string) *hcm.Config {
	tb, err := router.NewTable("in", []router.VirtualHostConfig{{Name: "in", Domains: []string{"*"},
		Routes: []router.RouteConfig{{Match: router.Match{Path: "/"}, Action: router.Action{Cluster: cluster}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return &hcm.Config{Routes: tb}
}

func body(t *testing.T, url string) string {
	t.Helper()
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestUpdateBindKeepRebindRemove(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }))
	defer app.Close()
	m, um := newTestManager(t)
	if err := um.UpdateClusters([]upstream.Config{{Name: "app", Type: upstream.Static, ConnectTimeout: time.Second,
		Endpoints: []upstream.EndpointConfig{{Address: app.Listener.Addr().String(), Weight: 1}}}}); err != nil {
		t.Fatal(err)
	}
	in := Config{Name: "inbound|80", Address: "127.0.0.1:0", BindToPort: true, Inbound: true, HTTP: inlineHTTP(t, "app")}
	hidden := Config{Name: "0.0.0.0_80", Address: "0.0.0.0:80", BindToPort: false, HTTP: inlineHTTP(t, "app")}
	if err := m.Update([]Config{in, hidden}); err != nil {
		t.Fatal(err)
	}
	a1 := m.Addr("inbound|80")
	if a1 == nil || m.Addr("0.0.0.0_80") != nil {
		t.Fatalf("bound: %v", m.Bound())
	}
	if got := body(t, "http://"+a1.String()+"/"); got != "app" {
		t.Fatalf("inbound: %q", got)
	}
	// Same address, new route config: same socket.
	in.HTTP = inlineHTTP(t, "missing")
	if err := m.Update([]Config{in, hidden}); err != nil {
		t.Fatal(err)
	}
	if m.Addr("inbound|80") != a1 {
		t.Error("unchanged address was rebound")
	}
	if got := body(t, "http://"+a1.String()+"/"); got != "cluster not found" {
		t.Errorf("after in-place update: %q", got)
	}
	// New address: rebound; the old socket is closed.
	in.Address = "127.0.0.2:0"
	if err := m.Update([]Config{in}); err != nil {
		t.Fatal(err)
	}
	a2 := m.Addr("inbound|80")
	if a2 == nil || a2.String() == a1.String() {
		t.Fatalf("not rebound: %v", a2)
	}
	if c, err := net.Dial("tcp", a1.String()); err == nil {
		c.Close()
		t.Error("old socket still open")
	}
	// A bind failure rejects the update and keeps the current listeners.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	bad := Config{Name: "inbound|81", Address: taken.Addr().String(), BindToPort: true, HTTP: inlineHTTP(t, "app")}
	if err := m.Update([]Config{in, bad}); err == nil || !strings.Contains(err.Error(), `listener: "inbound|81": bind`) {
		t.Fatalf("bind failure: %v", err)
	}
	if m.Addr("inbound|80") != a2 || m.Addr("inbound|81") != nil {
		t.Error("failed update changed the listeners")
	}
	// Removed: closed.
	if err := m.Update(nil); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", a2.String()); err == nil {
		c.Close()
		t.Error("removed listener still open")
	}
}

func TestTCPProxy(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	m, um := newTestManager(t)
	if err := um.UpdateClusters([]upstream.Config{{Name: "db", Type: upstream.Static, ConnectTimeout: time.Second,
		Endpoints: []upstream.EndpointConfig{{Address: echo.Addr().String(), Weight: 1}}}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Update([]Config{{Name: "inbound|5432", Address: "127.0.0.1:0", BindToPort: true, TCP: &TCPProxy{Cluster: "db"}}}); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", m.Addr("inbound|5432").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "hello")
	c.(*net.TCPConn).CloseWrite()
	b, _ := io.ReadAll(c)
	if string(b) != "hello" {
		t.Errorf("tcp proxy echoed %q", b)
	}
}
