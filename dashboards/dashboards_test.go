package dashboards

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/controlplane"
	"github.com/halyard-mesh/halyard/internal/local"
	"github.com/halyard-mesh/halyard/internal/localmesh"
	"github.com/halyard-mesh/halyard/internal/meshmetrics/fakesidecar"
	"github.com/halyard-mesh/halyard/internal/promtest"
)

var metricRe = regexp.MustCompile(`\b((?:istio|pilot|citadel|halyard)_[a-z_]+)\b`)

// known are the metrics the dashboards may use: Istio's standard metrics
// and the control plane's.
var known = map[string]bool{
	"istio_requests_total": true, "istio_request_duration_milliseconds_bucket": true,
	"istio_request_bytes_bucket": true, "istio_response_bytes_bucket": true,
	"istio_tcp_sent_bytes_total": true, "istio_tcp_received_bytes_total": true,
	"istio_tcp_connections_opened_total": true, "istio_tcp_connections_closed_total": true,
	"pilot_xds": true, "pilot_services": true, "pilot_xds_pushes": true, "pilot_total_xds_rejects": true,
	"pilot_total_xds_internal_errors": true, "pilot_proxy_convergence_time_bucket": true,
	"pilot_proxy_convergence_time_sum": true, "pilot_proxy_convergence_time_count": true,
	"halyard_config_rejected_total": true, "citadel_server_success_cert_issuance_count": true,
}

func TestDashboardsAreWellFormed(t *testing.T) {
	ds, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 3 {
		t.Fatalf("%d dashboards, want 3 (mesh, service, workload)", len(ds))
	}
	for _, d := range ds {
		ids := map[int]bool{}
		for _, p := range d.Panels {
			if ids[p.ID] {
				t.Errorf("%s: panel id %d twice", d.File, p.ID)
			}
			ids[p.ID] = true
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", d.File, p.Title)
			}
		}
		for _, q := range d.Queries() {
			if strings.Contains(q.Expr, "$") {
				t.Errorf("%s: %s: variable left in %s", d.File, q.Panel, q.Expr)
			}
			for _, m := range metricRe.FindAllString(q.Expr, -1) {
				if !known[m] {
					t.Errorf("%s: %s: unknown metric %s", d.File, q.Panel, m)
				}
			}
		}
	}
}

// TestEveryQueryReturnsData runs a real Prometheus against fake sidecars
// serving the demo's traffic and a real control plane, through the same
// targets file `halyard up` writes, and runs every panel's query.
func TestEveryQueryReturnsData(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cp := startControlPlane(t, ctx)
	st := &local.State{AdminAddress: cp.AdminAddress()}
	for workload, edges := range fakesidecar.Bookinfo() {
		s, err := fakesidecar.Start(edges, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		app, version, _ := strings.Cut(workload, "-")
		st.Pods = append(st.Pods, local.PodState{Name: workload + "-0", Namespace: "default", Workload: workload,
			AdminAddress: s.Addr(), StatsAddress: s.Addr(), Labels: map[string]string{"app": app, "version": version}})
	}
	if err := localmesh.WritePrometheusTargets(dir, st); err != nil {
		t.Fatal(err)
	}
	prom, err := promtest.Start(ctx, dir, dir+"/"+localmesh.PrometheusTargetsFile)
	if errors.Is(err, promtest.ErrNoPrometheus) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)

	ds, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	var queries []Query
	for _, d := range ds {
		queries = append(queries, d.Queries()...)
	}
	empty := CheckQueries(ctx, t, prom, queries, 30*time.Second)
	for _, q := range empty {
		t.Errorf("no data: %s / %s (%s): %s", q.Dashboard, q.Panel, q.RefID, q.Expr)
	}
	t.Logf("%d of %d queries returned data", len(queries)-len(empty), len(queries))
	if up, err := prom.Up(ctx, "halyard-sidecars"); err != nil || up != 6 {
		t.Errorf("sidecar targets up: %d (%v), want 6", up, err)
	}
}

func startControlPlane(t *testing.T, ctx context.Context) *controlplane.Server {
	t.Helper()
	cp := controlplane.New(controlplane.Options{XDSAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0"})
	if err := cp.Listen(); err != nil {
		t.Fatal(err)
	}
	cfg, _ := config.Parse("empty.yaml", nil)
	cp.SetConfig(cfg)
	done := make(chan error, 1)
	go func() { done <- cp.Run(ctx) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("control plane: %v", err)
		}
	})
	return cp
}
