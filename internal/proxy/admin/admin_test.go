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
