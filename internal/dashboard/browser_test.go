package dashboard_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/dashboard"
	"github.com/halyard-mesh/halyard/internal/dashboard/headless"
	"github.com/halyard-mesh/halyard/internal/meshmetrics"
	"github.com/halyard-mesh/halyard/internal/meshmetrics/fakesidecar"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// requireChromium skips without Chromium, except in CI, which installs it.
func requireChromium(t *testing.T) {
	if _, err := headless.Binary(); errors.Is(err, headless.ErrNoChromium) {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// syncStatus is one synced proxy, as /debug/syncz shows it.
var syncStatus = []map[string]any{{"id": "sidecar~127.0.0.1~reviews-v2-0.default~default.svc.cluster.local", "connected": true,
	"types": map[string]any{"LDS": ack, "RDS": ack, "CDS": ack, "EDS": ack}}}

var ack = map[string]string{"want": "v1", "sent": "v1", "acked": "v1", "convergedAfter": "12.345678ms"}

// bookinfo is the demo's configuration with one pod per workload.
func bookinfo(t *testing.T) (*config.Snapshot, *registry.Model) {
	cfg, diags := config.Load("../../examples/bookinfo")
	if cfg == nil {
		t.Fatalf("examples/bookinfo: %v", diags)
	}
	var pods []registry.Pod
	for i, w := range []string{"productpage-v1", "details-v1", "reviews-v1", "reviews-v2", "reviews-v3", "ratings-v1"} {
		app, version, _ := strings.Cut(w, "-")
		pods = append(pods, registry.Pod{Name: w + "-0", Namespace: "default", Workload: w, Ready: true,
			Labels: map[string]string{"app": app, "version": version},
			Ports:  []registry.PodPort{{Name: "http", ContainerPort: 9080, AppAddress: "127.0.0.1:1", InboundAddress: "127.0.0.1:" + strconv.Itoa(40000+i)}}})
	}
	model, _ := registry.Build(cfg, pods, "cluster.local")
	return cfg, model
}

var (
	nodeRe = regexp.MustCompile(`class="node[^"]*" data-id="([^"]+)"`)
	edgeRe = regexp.MustCompile(`class="edge[^"]*" data-source="([^"]+)" data-destination="([^"]+)" data-rps="([0-9.]+)" data-error-rate="([0-9.]+)" data-p99-ms="([0-9.]+)" data-mtls="([0-9.]+)"`)
)

// TestPageShowsTheGraphOfScrapedSidecars runs the real scraper against
// fake sidecars reporting the demo's traffic, serves the UI, loads it in
// headless Chromium and reads the drawn graph back from the DOM.
func TestPageShowsTheGraphOfScrapedSidecars(t *testing.T) {
	requireChromium(t)
	var targets []meshmetrics.Target
	for workload, edges := range fakesidecar.Bookinfo() {
		s, err := fakesidecar.Start(edges, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		targets = append(targets, meshmetrics.Target{Name: workload, Address: s.Addr()})
	}
	scraper := meshmetrics.NewScraper(meshmetrics.Options{Targets: func() []meshmetrics.Target { return targets }, Interval: 250 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); scraper.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	deadline := time.Now().Add(10 * time.Second)
	for g := scraper.Store().Graph(30 * time.Second); len(g.Edges) < 7 || g.Edges[0].RPS == 0; g = scraper.Store().Graph(30 * time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("scraper saw no traffic in 10s: %+v", g)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cfg, model := bookinfo(t)
	srv := httptest.NewServer(dashboard.Handler(dashboard.Options{
		Metrics: scraper.Store(), Config: func() *config.Snapshot { return cfg },
		Model: func() *registry.Model { return model }, SyncStatus: func() any { return syncStatus }, Interval: time.Second,
	}))
	t.Cleanup(srv.Close)

	dir := t.ArtifactDir()
	page, err := headless.Load(ctx, srv.URL+dashboard.Path+"#reviews.default", dir, "dashboard", 3000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", page.Screenshot)

	for _, want := range []string{`data-service="reviews.default" class="selected"`, "<h3>VirtualService default/reviews ",
		`<td class="ok">SYNCED</td>`, "<polyline"} {
		if !strings.Contains(page.DOM, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if n := strings.Count(page.DOM, "<polyline"); n != 3 {
		t.Errorf("%d charts drawn for reviews, want 3 (requests/s, errors, P99)", n)
	}

	nodes := map[string]bool{}
	for _, m := range nodeRe.FindAllStringSubmatch(page.DOM, -1) {
		nodes[m[1]] = true
	}
	for _, want := range []string{"productpage.default:v1", "details.default:v1", "reviews.default:v1", "reviews.default:v2",
		"reviews.default:v3", "ratings.default:v1", "halyard-exec.default:unknown"} {
		if !nodes[want] {
			t.Errorf("graph lacks node %s; has %v", want, nodes)
		}
	}
	edges := edgeRe.FindAllStringSubmatch(page.DOM, -1)
	if len(edges) != 7 {
		t.Fatalf("graph has %d edges, want 7", len(edges))
	}
	for _, m := range edges {
		rps, _ := strconv.ParseFloat(m[3], 64)
		errs, _ := strconv.ParseFloat(m[4], 64)
		p99, _ := strconv.ParseFloat(m[5], 64)
		mtls, _ := strconv.ParseFloat(m[6], 64)
		if rps <= 0 || p99 <= 0 || mtls != 1 {
			t.Errorf("edge %s -> %s: %v rps, p99 %v ms, mTLS %v; want traffic, a latency and mTLS", m[1], m[2], rps, p99, mtls)
		}
		if m[2] == "reviews.default:v3" && (errs < 0.1 || errs > 0.3) {
			t.Errorf("reviews v3 error rate %v, want about 0.2", errs)
		}
	}
}
