package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/dashboards"
	"github.com/halyard-mesh/halyard/internal/dashboard/headless"
	"github.com/halyard-mesh/halyard/internal/local"
	"github.com/halyard-mesh/halyard/internal/localmesh"
	"github.com/halyard-mesh/halyard/internal/promtest"
)

// TestObservability runs the demo with traffic and looks at it the ways a
// user would: the control plane's /metrics, Prometheus scraping the
// targets file with every Grafana panel's query, the web UI in headless
// Chromium, and `halyard tap`. Besides Bookinfo's HTTP the mesh has a raw
// TCP echo service, so the TCP panels have data too.
func TestObservability(t *testing.T) {
	files := bookinfo()
	files["tcp-echo.yaml"] = echoYAML("tcp-echo", 9000, "")
	m := startMesh(t, files)
	stopTraffic := sendTraffic(t, m)
	defer stopTraffic()
	sendTCP(t, m, "tcp-echo:9000", 5)
	sidecars := 0
	for _, p := range m.state.Pods {
		if p.AdminAddress != "" {
			sidecars++
		}
	}
	if !sidecarServes(t, m, func(p local.PodState) string { return p.StatsAddress }, "/stats/prometheus") {
		t.Fatal("the sidecars do not serve /stats/prometheus on their stats port")
	}

	t.Run("control plane metrics", func(t *testing.T) {
		body := httpGet(t, "http://"+m.state.AdminAddress+"/metrics")
		for _, want := range []string{"pilot_xds " + strconv.Itoa(sidecars), `pilot_xds_pushes{type="lds"}`, "pilot_proxy_convergence_time_count", "pilot_services 5"} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})

	t.Run("halyard dashboard prints the UI URL", func(t *testing.T) {
		out, err := m.halyard(context.Background(), "dashboard")
		if err != nil || strings.TrimSpace(out) != m.state.DashboardURL || m.state.DashboardURL == "" {
			t.Errorf("halyard dashboard: %q %v, want %s", out, err, m.state.DashboardURL)
		}
	})

	t.Run("prometheus runs every dashboard query", func(t *testing.T) {
		checkPrometheus(t, m, sidecars)
	})

	t.Run("web UI", func(t *testing.T) {
		checkUI(t, m, sidecars)
	})

	t.Run("tap", func(t *testing.T) {
		if !sidecarServes(t, m, func(p local.PodState) string { return p.AdminAddress }, "/debug/tap?path=/nothing") {
			t.Fatal("the sidecars do not serve /debug/tap")
		}
		checkTap(t, m)
	})
}

// sendTraffic sends requests through the mesh's client sidecar, about 50
// a second, until the returned function is called (or 3 minutes pass).
func sendTraffic(t *testing.T, m *mesh) func() {
	c := m.client("halyard-exec")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	var wg sync.WaitGroup
	wg.Go(func() {
		jason := http.Header{"End-User": {"jason"}}
		for i := 0; ctx.Err() == nil; i++ {
			switch i % 3 {
			case 0:
				get(c, "http://productpage:9080/", nil)
			case 1:
				get(c, "http://reviews:9080/", jason)
			default:
				get(c, "http://ratings:9080/", nil)
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// sendTCP opens n connections to target through the exec pod's sidecar
// (CONNECT), each echoing one line, and closes them.
func sendTCP(t *testing.T, m *mesh, target string, n int) {
	t.Helper()
	p, _ := m.state.Pod("halyard-exec")
	for i := range n {
		conn, br := connectTunnel(t, p.OutboundAddress, target)
		if _, err := br.ReadString('\n'); err != nil { // the echo server's greeting
			t.Fatalf("tcp connection %d: %v", i, err)
		}
		line := fmt.Sprintf("hello %d\n", i)
		io.WriteString(conn, line)
		if got, err := br.ReadString('\n'); err != nil || got != line {
			t.Fatalf("tcp connection %d: echoed %q, %v", i, got, err)
		}
		conn.Close()
	}
}

// sidecarServes reports whether the first sidecar answers path with 200
// at the address addr picks (admin, stats or health).
func sidecarServes(t *testing.T, m *mesh, addr func(local.PodState) string, path string) bool {
	t.Helper()
	for _, p := range m.state.Pods {
		if p.AdminAddress == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr(p)+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	return false
}

func checkPrometheus(t *testing.T, m *mesh, sidecars int) {
	targets := filepath.Join(m.stateDir, localmesh.PrometheusTargetsFile)
	var groups []json.RawMessage
	if b, err := os.ReadFile(targets); err != nil || json.Unmarshal(b, &groups) != nil || len(groups) != sidecars+1 {
		t.Fatalf("targets file %s: %d groups (%v), want %d", targets, len(groups), err, sidecars+1)
	}
	ctx := context.Background()
	prom, err := promtest.Start(ctx, t.TempDir(), targets)
	if errors.Is(err, promtest.ErrNoPrometheus) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer prom.Stop()
	ds, err := dashboards.Load()
	if err != nil {
		t.Fatal(err)
	}
	var cpQueries, proxyQueries []dashboards.Query
	for _, d := range ds {
		for _, q := range d.Queries() {
			if strings.Contains(q.Expr, "istio_") {
				proxyQueries = append(proxyQueries, q)
			} else {
				cpQueries = append(cpQueries, q)
			}
		}
	}
	empty := dashboards.CheckQueries(ctx, t, prom, cpQueries, 30*time.Second)
	for _, q := range empty {
		t.Errorf("control-plane query returned no data: %s / %s: %s", q.Dashboard, q.Panel, q.Expr)
	}
	t.Logf("control-plane queries: %d of %d returned data", len(cpQueries)-len(empty), len(cpQueries))
	if up, err := prom.Up(ctx, "halyard-controlplane"); up != 1 {
		t.Errorf("control plane target up = %d (%v), want 1", up, err)
	}
	empty = dashboards.CheckQueries(ctx, t, prom, proxyQueries, 30*time.Second)
	t.Logf("sidecar queries: %d of %d returned data", len(proxyQueries)-len(empty), len(proxyQueries))
	for _, q := range empty {
		t.Errorf("no data: %s / %s: %s", q.Dashboard, q.Panel, q.Expr)
	}
	if up, err := prom.Up(ctx, "halyard-sidecars"); up != sidecars {
		t.Errorf("sidecar targets up = %d (%v), want %d", up, err, sidecars)
	}
}

var (
	serviceRe = regexp.MustCompile(`data-service="([^"]+)"`)
	syncedRe  = regexp.MustCompile(`<td class="ok">SYNCED</td>`)
	uiNodeRe  = regexp.MustCompile(`class="node[^"]*" data-id="([^"]+)"`)
	uiEdgeRe  = regexp.MustCompile(`data-destination="([^"]+)" data-rps="([0-9.]+)"`)
)

func checkUI(t *testing.T, m *mesh, sidecars int) {
	if _, err := headless.Binary(); err != nil && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var page *headless.Page
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		page, err = headless.Load(ctx, m.state.DashboardURL, t.ArtifactDir(), "dashboard", 4000)
		if err != nil {
			t.Fatal(err)
		}
		rps := uiEdgeRe.FindAllStringSubmatch(page.DOM, -1)
		if len(rps) > 0 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("screenshot: %s", page.Screenshot)
	services := map[string]bool{}
	for _, s := range serviceRe.FindAllStringSubmatch(page.DOM, -1) {
		services[s[1]] = true
	}
	for _, want := range []string{"productpage.default", "details.default", "reviews.default", "ratings.default"} {
		if !services[want] {
			t.Errorf("UI lists no service %s; lists %v", want, services)
		}
	}
	if n := len(syncedRe.FindAllString(page.DOM, -1)); n != sidecars {
		t.Errorf("UI shows %d proxies SYNCED, want %d", n, sidecars)
	}
	nodes := map[string]bool{}
	for _, n := range uiNodeRe.FindAllStringSubmatch(page.DOM, -1) {
		nodes[n[1]] = true
	}
	rates := map[string]float64{}
	for _, e := range uiEdgeRe.FindAllStringSubmatch(page.DOM, -1) {
		var v float64
		json.Unmarshal([]byte(e[2]), &v)
		rates[strings.SplitN(e[1], ".", 2)[0]] += v
	}
	for _, svc := range []string{"productpage", "details", "reviews", "ratings"} {
		if rates[svc] <= 0 {
			t.Errorf("graph shows no requests/s into %s: nodes %v, rates %v", svc, nodes, rates)
		}
	}
}

// checkTap runs `halyard tap reviews -o json` and reads events while the
// traffic goes on.
func checkTap(t *testing.T, m *mesh) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, halyardBin(), "--state-dir", m.stateDir, "tap", "reviews", "-o", "json", "--method", "GET")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	versions := map[string]int{}
	for n := 0; n < 20 && sc.Scan(); n++ {
		var ev struct {
			Direction, Method, DestinationWorkload string
			Status                                 int
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("tap line %q: %v", sc.Bytes(), err)
		}
		if ev.Direction != "inbound" || ev.Method != "GET" || ev.Status != 200 {
			t.Errorf("tap event %s: want inbound GET 200", sc.Bytes())
		}
		versions[ev.DestinationWorkload]++
	}
	if versions["reviews-v2"] == 0 {
		t.Errorf("tap saw no request to reviews-v2 (the traffic sends End-User: jason): %v", versions)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	status, _, body, err := get(c, url, nil)
	if err != nil || status != 200 {
		t.Fatalf("GET %s: %d %v", url, status, err)
	}
	return string(body)
}
