package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/halyard-mesh/halyard/internal/localmesh"
)

// TestStatsAndHealthPorts: every sidecar of an explicit-mode mesh has its
// own stats port (/stats/prometheus, Istio's 15090) and health port
// (/healthz/ready, Istio's 15021) besides its admin address; the
// Prometheus targets file points at the stats ports.
func TestStatsAndHealthPorts(t *testing.T) {
	m := startMesh(t, map[string]string{"svc.yaml": sampleService("hello", "http", 9080, 2)})
	c := m.client("halyard-exec")
	for range 5 {
		if status, _, body, err := get(c, "http://hello:9080/", nil); err != nil || status != 200 {
			t.Fatalf("hello: status %d, error %v, body %s", status, err, body)
		}
	}
	seen := map[string]string{} // address -> what uses it
	var stats []string
	for _, p := range m.state.Pods {
		if p.AdminAddress == "" {
			continue
		}
		for what, addr := range map[string]string{"admin": p.AdminAddress, "stats": p.StatsAddress, "health": p.HealthAddress} {
			if addr == "" || seen[addr] != "" {
				t.Fatalf("pod %s: %s address %q is empty or also %s", p.Name, what, addr, seen[addr])
			}
			seen[addr] = p.Name + " " + what
		}
		stats = append(stats, p.StatsAddress)
		if code, body := fetch(t, "http://"+p.HealthAddress+"/healthz/ready"); code != 200 || body != "LIVE\n" {
			t.Errorf("pod %s health port: %d %q, want 200 LIVE", p.Name, code, body)
		}
		code, body := fetch(t, "http://"+p.StatsAddress+"/stats/prometheus")
		if code != 200 || !strings.Contains(body, "istio_requests_total{") {
			t.Errorf("pod %s stats port: %d, istio_requests_total present %v", p.Name, code, strings.Contains(body, "istio_requests_total{"))
		}
		if code, _ := fetch(t, "http://"+p.StatsAddress+"/config_dump"); code != http.StatusNotFound {
			t.Errorf("pod %s stats port serves /config_dump: %d, want 404", p.Name, code)
		}
		if code, _ := fetch(t, "http://"+p.AdminAddress+"/stats/prometheus"); code != 200 {
			t.Errorf("pod %s admin /stats/prometheus: %d, want 200 (kept for compatibility)", p.Name, code)
		}
		// The real binary, not a test one, renders every type the control
		// plane sends.
		if code, body := fetch(t, "http://"+p.AdminAddress+"/config_dump"); code != 200 ||
			!strings.Contains(body, "envoy.extensions.filters.http.router.v3.Router") {
			t.Errorf("pod %s admin /config_dump: %d %.300s", p.Name, code, body)
		}
	}
	if len(stats) != 3 { // two hello pods and halyard-exec
		t.Fatalf("%d sidecars, want 3", len(stats))
	}
	b, err := os.ReadFile(filepath.Join(m.stateDir, localmesh.PrometheusTargetsFile))
	if err != nil {
		t.Fatal(err)
	}
	var groups []struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	mustJSON(t, b, &groups)
	var targets []string
	for _, g := range groups {
		if g.Labels["job"] == "halyard-sidecars" {
			targets = append(targets, g.Targets...)
		}
	}
	slices.Sort(targets)
	slices.Sort(stats)
	if !slices.Equal(targets, stats) {
		t.Errorf("sidecar targets %v, want the stats ports %v", targets, stats)
	}
}

// fetch GETs url and returns the status and body.
func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var sb strings.Builder
	if _, err := io.Copy(&sb, res.Body); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, sb.String()
}
