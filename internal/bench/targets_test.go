package bench

import (
	"encoding/json"
	"os"
	"testing"
)

func loadReport(t *testing.T, file string) *Report {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// TestEvaluateRealReport re-evaluates the targets of a real quick run
// (testdata/report-quick.json) and checks them against what it recorded.
func TestEvaluateRealReport(t *testing.T) {
	r := loadReport(t, "testdata/report-quick.json")
	got := evaluate(r)
	if len(got) != len(r.Targets) {
		t.Fatalf("%d targets, the report has %d", len(got), len(r.Targets))
	}
	for i := range got {
		if got[i] != r.Targets[i] {
			t.Errorf("target %d:\n got %+v\nwant %+v", i, got[i], r.Targets[i])
		}
	}
}

func latencyReport(halyard50, haproxy50 float64) *Report {
	return &Report{Latency: []LatencyPoint{{Connections: 2, Paths: []PathLatency{
		{Path: PathDirect, P50: 0.3, P90: 0.5},
		{Path: PathHalyard, AddedP50: halyard50, AddedP90: 0.1},
		{Path: PathHAProxy, AddedP50: haproxy50, AddedP90: 0.1},
	}}}}
}

func TestLatencyTargets(t *testing.T) {
	for _, tc := range []struct {
		name               string
		halyard, haproxy   float64
		wantP50, wantRatio string
	}{
		{"equal", 0.2, 0.2, StatusPass, "c=2: 1.00x"},
		{"at the limit", 0.3, 0.2, StatusPass, "c=2: 1.50x"},
		{"over", 0.31, 0.2, StatusFail, "c=2: 1.55x"},
		// HAProxy adding (almost) nothing: the ratio's denominator is the
		// histogram resolution, 10 µs.
		{"haproxy adds nothing", 0.014, -0.002, StatusPass, "c=2: 1.40x"},
		{"both negative", -0.01, -0.02, StatusPass, "c=2: -1.00x"},
	} {
		got := latencyTargets(latencyReport(tc.halyard, tc.haproxy).Latency)
		if got[0].Status != tc.wantP50 || got[0].Measured != tc.wantRatio || got[1].Status != StatusPass {
			t.Errorf("%s: %+v", tc.name, got)
		}
	}
	if got := latencyTargets(nil); got[0].Status != StatusNotRun || got[1].Status != StatusNotRun {
		t.Errorf("no measurements: %+v", got)
	}
}

func TestResourceTargets(t *testing.T) {
	proxies := []ProxyUsage{
		{Path: PathHalyard, Proxy: "client", CPUPer1000: 0.08, PeakRSSMB: 12},
		{Path: PathHalyard, Proxy: "server", CPUPer1000: 0.11, PeakRSSMB: 21},
		{Path: PathHAProxy, Proxy: "client", CPUPer1000: 0.05},
		{Path: PathHAProxy, Proxy: "server", CPUPer1000: 0.05},
	}
	cpu := cpuTargets(proxies)
	if cpu[0].Status != StatusFail || cpu[0].Measured != "0.110 (worst proxy)" {
		t.Errorf("absolute cpu: %+v", cpu[0])
	}
	if cpu[1].Status != StatusPass || cpu[1].Measured != "1.90x (0.190 vs 0.100)" {
		t.Errorf("relative cpu: %+v", cpu[1])
	}
	if rss := rssTarget(proxies); rss.Status != StatusFail || rss.Measured != "21.0 MB (worst sidecar)" {
		t.Errorf("rss: %+v", rss)
	}
	single := singleCoreTarget([]SingleCore{{Path: PathDirect, Capacity: 9000}, {Path: PathHalyard, Capacity: 6000}, {Path: PathHAProxy, Capacity: 10000}})
	if single.Status != StatusPass || single.Measured != "0.60x (6000 vs 10000 req/s)" {
		t.Errorf("single core: %+v", single)
	}
}

func TestControlPlaneTargets(t *testing.T) {
	done := Convergence{P50: 300, P99: 900, Max: 950, Converged: 2000, Total: 2000}
	cp := &ControlPlaneResult{Proxies: 2000, InitialSync: done, Change: done, PeakRSSMB: 400,
		Sidecar: &ScaleSidecar{Synced: true, PeakRSSMB: 31.5}}
	for _, tg := range controlPlaneTargets(cp, "2000 proxies") {
		if tg.Status != StatusPass {
			t.Errorf("%+v", tg)
		}
	}
	cp.Sidecar = &ScaleSidecar{Error: "not synced after 2m0s"}
	if tg := controlPlaneTargets(cp, "2000 proxies")[3]; tg.Status != StatusFail || tg.Measured != "not synced: not synced after 2m0s" {
		t.Errorf("unsynced sidecar: %+v", tg)
	}
	cp.InitialSync = Convergence{Max: 22000, Converged: 213, Total: 2000, Aborted: "rss"}
	cp.Change = Convergence{}
	got := controlPlaneTargets(cp, "2000 proxies")
	if got[0].Status != StatusFail || got[0].Measured != "not measured (an earlier push was aborted)" {
		t.Errorf("change: %+v", got[0])
	}
	if got[1].Status != StatusFail || got[1].Measured != "213 of 2000 converged, the last after 22000 ms" {
		t.Errorf("initial sync: %+v", got[1])
	}
	if got := controlPlaneTargets(nil, "proxies"); got[2].Status != StatusNotRun {
		t.Errorf("not run: %+v", got)
	}
}

func TestNoiseNote(t *testing.T) {
	r := latencyReport(0.2, 0.2)
	if n := noiseNote(r); n != "" {
		t.Errorf("quiet run: %q", n)
	}
	r.Latency[0].Paths[1].OtherCPU = 0.05
	r.SingleCore = []SingleCore{{Path: PathHAProxy, OtherCPU: 0.83}}
	if n, want := noiseNote(r), "other processes (or the hypervisor's steal time) used up to 0.83 cores during the runs (HAProxy single-core)"; len(n) < len(want) || n[:len(want)] != want {
		t.Errorf("noisy run: %q", n)
	}
}
