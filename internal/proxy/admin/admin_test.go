package admin

import (
	"io"
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
