package dashboard_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
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
	srv := httptest.NewServer(dashboard.Handler(dashboard.Options{
		Metrics: scraper.Store(), Config: func() *config.Snapshot { return nil },
		Model: func() *registry.Model { return nil }, SyncStatus: func() any { return []any{} }, Interval: time.Second,
	}))
	t.Cleanup(srv.Close)

	dir := t.ArtifactDir()
	page, err := headless.Load(ctx, srv.URL+dashboard.Path, dir, "dashboard", 3000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", page.Screenshot)

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
