package localmesh

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/halyard-mesh/halyard/internal/local"
)

func TestPrometheusTargetsFile(t *testing.T) {
	dir := t.TempDir()
	st := &local.State{AdminAddress: "127.0.0.1:15014", Pods: []local.PodState{
		{Name: "reviews-v2-0", Namespace: "default", Workload: "reviews-v2", AdminAddress: "127.0.0.1:40001",
			StatsAddress: "127.0.0.1:40002", HealthAddress: "127.0.0.1:40003",
			Labels: map[string]string{"app": "reviews", "version": "v2"}},
		{Name: "no-sidecar-0", Namespace: "default", Workload: "no-sidecar"},
	}}
	if err := WritePrometheusTargets(dir, st); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, PrometheusTargetsFile))
	if err != nil {
		t.Fatal(err)
	}
	var groups []targetGroup
	if err := json.Unmarshal(b, &groups); err != nil {
		t.Fatalf("targets file is not JSON: %v\n%s", err, b)
	}
	if len(groups) != 2 {
		t.Fatalf("got %d target groups, want 2 (control plane + one sidecar): %s", len(groups), b)
	}
	cp, sc := groups[0], groups[1]
	if cp.Targets[0] != "127.0.0.1:15014" || cp.Labels["__metrics_path__"] != "/metrics" || cp.Labels["job"] != "halyard-controlplane" {
		t.Errorf("control plane group: %+v", cp)
	}
	want := map[string]string{"job": "halyard-sidecars", "__metrics_path__": "/stats/prometheus",
		"namespace": "default", "pod": "reviews-v2-0", "workload": "reviews-v2", "app": "reviews", "version": "v2"}
	if sc.Targets[0] != "127.0.0.1:40002" || len(sc.Labels) != len(want) { // the stats port
		t.Errorf("sidecar group: %+v", sc)
	}
	for k, v := range want {
		if sc.Labels[k] != v {
			t.Errorf("sidecar label %s = %q, want %q", k, sc.Labels[k], v)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, PrometheusTargetsFile+".tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
}
