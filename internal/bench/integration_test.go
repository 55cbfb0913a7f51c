package bench

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestQuickRun runs the whole harness in quick mode: it builds fortio and
// the binaries, starts fortio, HAProxy and two meshes, runs every path,
// the control plane at small scale, and checks that the report is complete
// and that no process it started is left.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts meshes and HAProxy and sends traffic; skipped in -short mode")
	}
	repo, err := FindRepo(".")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := Preflight(ctx, repo); err != nil {
		t.Skipf("the bench cannot run here: %v", err)
	}
	results := t.TempDir()
	start := time.Now()
	rep, err := Run(ctx, Options{ResultsDir: results, Quick: true, RepoDir: repo,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("quick run took %s:\n%s", time.Since(start).Round(time.Second), rep.Markdown())
	// Direct, Halyard and HAProxy, and Halyard with transparent capture
	// where it can run (Linux, root): two proxies on each proxied path.
	if len(rep.Latency) != 1 || len(rep.Latency[0].Paths) < 3 || len(rep.Proxies) != 2*(len(rep.Latency[0].Paths)-1) || len(rep.SingleCore) != 3 {
		t.Errorf("incomplete data plane: %d points, %d proxies, %d single-core", len(rep.Latency), len(rep.Proxies), len(rep.SingleCore))
	}
	for _, p := range rep.Latency[0].Paths {
		if p.Requests == 0 || p.Errors > 0 {
			t.Errorf("%s: %d requests, %d errors", p.Path, p.Requests, p.Errors)
		}
	}
	// One of the proxies is a real sidecar; the others are simulated.
	if cp := rep.ControlPlane; cp == nil || cp.Change.Converged != cp.Proxies-1 || cp.Sidecar == nil || !cp.Sidecar.Synced {
		t.Errorf("control plane: %+v (sidecar %+v)", cp, cp.Sidecar)
	}
	for _, tg := range rep.Targets {
		if tg.Status == StatusNotRun {
			t.Errorf("target not evaluated: %+v", tg)
		}
	}
	for _, f := range []string{"report.md", "report.json", rep.Latency[0].Paths[1].RawResults} {
		if _, err := os.Stat(filepath.Join(results, f)); err != nil {
			t.Error(err)
		}
	}
	checkStopped(t, rep)
}

// checkStopped fails if a proxy the run measured is still alive.
func checkStopped(t *testing.T, rep *Report) {
	for _, p := range rep.Proxies {
		if syscall.Kill(p.PID, 0) == nil && procComm(p.PID) != "" {
			t.Errorf("%s %s proxy (pid %d, %s) still running", p.Path, p.Proxy, p.PID, procComm(p.PID))
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}
