package bench

import (
	"os"
	"strings"
	"testing"
)

// TestMarkdown renders a real quick run's report and compares it with
// testdata/report-quick.md; UPDATE_GOLDEN=1 rewrites the golden file.
func TestMarkdown(t *testing.T) {
	r := loadReport(t, "testdata/report-quick.json")
	got := r.Markdown()
	const golden = "testdata/report-quick.md"
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("markdown differs from %s:\n%s", golden, got)
	}
}

func TestMarkdownAbortedControlPlane(t *testing.T) {
	r := &Report{ControlPlane: &ControlPlaneResult{Services: 1000, Versions: 2, Proxies: 2000, PeakRSSMB: 4001,
		InitialSync: Convergence{P50: 12360, P99: 22222, Max: 22566, Converged: 213, Total: 2000, ResponseMB: 101, CPUSeconds: 29.1, PeakRSSMB: 4001,
			Aborted: "the control plane passed 4000 MB RSS after 23 s and was stopped"}}}
	r.Targets = evaluate(r)
	md := r.Markdown()
	for _, want := range []string{
		"| initial sync | 12360 | 22222 | 22566 | 213 / 2000 | - | 101 | 29.1 | 4001 |",
		"| config change | - | - | - | not run | - | - | - | - |",
		"The initial sync was aborted: the control plane passed 4000 MB RSS after 23 s and was stopped.",
		"| Control plane: peak RSS | 4001 MB | 500 MB | FAIL |",
		"| Halyard added P50 <= 1.5x HAProxy's, every connection count | - | 1.5x | not run |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in:\n%s", want, md)
		}
	}
}

func TestTopSummary(t *testing.T) {
	b, err := os.ReadFile("testdata/pprof-top-sidecar.txt") // `go tool pprof -top` of a real sidecar profile
	if err != nil {
		t.Fatal(err)
	}
	got := topSummary(string(b), 3)
	want := `Duration: 10s, Total samples = 3.85s (38.50%)
      flat  flat%   sum%        cum   cum%
     1.11s 28.83% 28.83%      1.11s 28.83%  internal/runtime/syscall/linux.Syscall6
     0.29s  7.53% 36.36%      0.29s  7.53%  runtime.futex
     0.06s  1.56% 37.92%      0.06s  1.56%  runtime.memclrNoHeapPointers
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
