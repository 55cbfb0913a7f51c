package local

import (
	"log/slog"
	"slices"
	"testing"

	"github.com/halyard-mesh/halyard/internal/proxy/procenv"
)

// The sidecar gets the runtime settings of procenv and nothing of the
// host's environment beyond systemEnv.
func TestSidecarEnv(t *testing.T) {
	host := map[string]string{"PATH": "/usr/bin", "HOME": "/root", "GODEBUG": "http2debug=2", "SECRET": "x"}
	r := &Runner{log: slog.New(slog.DiscardHandler), opts: Options{ProxyBinary: "/bin/halyard-proxy",
		Getenv: func(k string) string { return host[k] }}}
	p := &pod{spec: podSpec{Name: "reviews-v1-0", Namespace: "default", Workload: "reviews-v1", Sidecar: true}}
	got := r.sidecarProc(p).Env
	want := []string{"PATH=/usr/bin", "HOME=/root", "GODEBUG=" + procenv.GODEBUG}
	if !slices.Equal(got, want) {
		t.Errorf("sidecar env %q, want %q", got, want)
	}
}
