package admin

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

type fakeSource struct{ ready atomic.Bool }

func (f *fakeSource) Ready() bool { return f.ready.Load() }
func (f *fakeSource) ConfigDump(w io.Writer) error {
	_, err := io.WriteString(w, `{"configs":[]}`)
	return err
}

func TestEndpoints(t *testing.T) {
	src := &fakeSource{}
	h := Handler(src)
	code := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	for _, p := range []string{"/healthz/ready", "/ready"} {
		if c, _ := code(p); c != http.StatusServiceUnavailable {
			t.Errorf("%s before ready: %d", p, c)
		}
	}
	src.ready.Store(true)
	for _, p := range []string{"/healthz/ready", "/ready"} {
		if c, _ := code(p); c != http.StatusOK {
			t.Errorf("%s when ready: %d", p, c)
		}
	}
	if c, body := code("/config_dump"); c != http.StatusOK || body != `{"configs":[]}` {
		t.Errorf("config_dump: %d %q", c, body)
	}
}

type fakeMetrics struct{ err error }

func (f fakeMetrics) WritePrometheus(w io.Writer) error {
	if f.err != nil {
		return f.err
	}
	_, err := io.WriteString(w, "istio_requests_total{reporter=\"source\"} 3\n")
	return err
}

func TestTelemetryEndpoints(t *testing.T) {
	get := func(h http.Handler, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	tap := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "tapped") })
	h := HandlerWith(&fakeSource{}, Telemetry{Metrics: fakeMetrics{}, Tap: tap})
	rec := get(h, "/stats/prometheus")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" ||
		rec.Body.String() != "istio_requests_total{reporter=\"source\"} 3\n" {
		t.Errorf("stats: %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
	if rec := get(h, "/debug/tap"); rec.Code != 200 || rec.Body.String() != "tapped" {
		t.Errorf("tap: %d %q", rec.Code, rec.Body.String())
	}
	bad := HandlerWith(&fakeSource{}, Telemetry{Metrics: fakeMetrics{err: io.ErrShortWrite}})
	if rec := get(bad, "/stats/prometheus"); rec.Code != 500 || rec.Body.String() != "admin: stats: short write\n" {
		t.Errorf("failing stats: %d %q", rec.Code, rec.Body.String())
	}
	plain := Handler(&fakeSource{})
	for _, p := range []string{"/stats/prometheus", "/debug/tap"} {
		if rec := get(plain, p); rec.Code != 404 {
			t.Errorf("%s without telemetry: %d", p, rec.Code)
		}
	}
}

// TestStatsAndHealthPorts: the stats port serves only /stats/prometheus,
// the health port only /healthz/ready (503 until ready), over real
// listeners.
func TestStatsAndHealthPorts(t *testing.T) {
	src := &fakeSource{}
	ctx, cancel := context.WithCancel(context.Background())
	serve := func(h http.Handler) (string, chan error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- Serve(ctx, ln, h, slog.New(slog.DiscardHandler)) }()
		return "http://" + ln.Addr().String(), done
	}
	stats, statsDone := serve(StatsHandler(fakeMetrics{}))
	health, healthDone := serve(HealthHandler(src))
	get := func(url string) (int, string) {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if c, body := get(stats + "/stats/prometheus"); c != 200 || body != "istio_requests_total{reporter=\"source\"} 3\n" {
		t.Errorf("stats port /stats/prometheus: %d %q", c, body)
	}
	for _, u := range []string{stats + "/healthz/ready", stats + "/config_dump", health + "/stats/prometheus", health + "/config_dump", health + "/ready"} {
		if c, _ := get(u); c != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", u, c)
		}
	}
	if c, body := get(health + "/healthz/ready"); c != http.StatusServiceUnavailable || body != "PRE_INITIALIZING\n" {
		t.Errorf("health before ready: %d %q", c, body)
	}
	src.ready.Store(true)
	if c, body := get(health + "/healthz/ready"); c != 200 || body != "LIVE\n" {
		t.Errorf("health when ready: %d %q", c, body)
	}
	cancel()
	for _, d := range []chan error{statsDone, healthDone} {
		if err := <-d; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
}
