package controlplane

import (
	"bufio"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/genproto/googleapis/rpc/status"

	"github.com/halyard-mesh/halyard/internal/registry"
	"github.com/halyard-mesh/halyard/internal/waittest"
)

// scrape fetches /metrics from the admin address and returns every sample
// by its name and labels as printed ("pilot_xds_pushes{type=\"lds\"}").
func scrape(t *testing.T, s *Server) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + s.AdminAddress() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetricsCountPushesNacksAndConnections(t *testing.T) {
	s := startServer(t)
	s.SetConfig(parse(t, meshYAML))
	s.SetPods([]registry.Pod{clientPod()})
	stream := adsStream(t, s)
	first := recv(t, stream)

	m := scrape(t, s)
	for name, want := range map[string]float64{
		`pilot_xds_pushes{type="lds"}`:        1,
		`pilot_xds_pushes{type="cds"}`:        0,
		`pilot_xds`:                           1,
		`pilot_services`:                      1,
		`pilot_virt_services`:                 0,
		`pilot_total_xds_rejects{type="lds"}`: 0,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}

	nack := &discovery.DiscoveryRequest{TypeUrl: resource.ListenerType, ResponseNonce: first.Nonce,
		ErrorDetail: &status.Status{Message: "listener: bad"}}
	if err := stream.Send(nack); err != nil {
		t.Fatal(err)
	}
	waittest.Until(t, "NACK counted", func() bool { return scrape(t, s)[`pilot_total_xds_rejects{type="lds"}`] == 1 })

	s.Metrics().CertificateIssued()
	s.Metrics().CertificateIssued()
	s.Metrics().ConfigRejected()
	m = scrape(t, s)
	if got := m["citadel_server_success_cert_issuance_count"]; got != 2 {
		t.Errorf("certificates issued = %v, want 2", got)
	}
	if got := m["halyard_config_rejected_total"]; got != 1 {
		t.Errorf("config rejected = %v, want 1", got)
	}
}

// TestConvergenceObservedOncePerPush drives the tracker with a fake clock:
// a push is observed when the last of its types is ACKed, once.
func TestConvergenceObservedOncePerPush(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := newSyncTracker(func() time.Time { return now })
	tr.metrics = newMetrics(gauges{connected: tr.connected, services: zero, virtualSvcs: zero})
	log := slog.New(slog.DiscardHandler)
	node := &core.Node{Id: "p1"}
	tr.request(log, 1, &discovery.DiscoveryRequest{Node: node, TypeUrl: resource.ListenerType})
	tr.pushed("p1", map[string]string{resource.ListenerType: "v1", resource.ClusterType: "c1"})

	ack := func(typeURL, v string) {
		tr.request(log, 1, &discovery.DiscoveryRequest{TypeUrl: typeURL, VersionInfo: v, ResponseNonce: "n"})
	}
	now = now.Add(300 * time.Millisecond)
	ack(resource.ListenerType, "v1")
	if n := histogramCount(t, tr.metrics); n != 0 {
		t.Fatalf("observed %d convergences before every type was ACKed", n)
	}
	now = now.Add(2 * time.Second) // 2.3s after the push: bucket le=3
	ack(resource.ClusterType, "c1")
	ack(resource.ClusterType, "c1")
	if n := histogramCount(t, tr.metrics); n != 1 {
		t.Fatalf("observed %d convergences, want 1", n)
	}
	if got := histogramBucket(t, tr.metrics, "1"); got != 0 {
		t.Errorf("le=1 bucket = %v, want 0 (converged after 2.3s)", got)
	}
	if got := histogramBucket(t, tr.metrics, "3"); got != 1 {
		t.Errorf("le=3 bucket = %v, want 1", got)
	}
}

func zero() float64 { return 0 }

func histogramCount(t *testing.T, m *Metrics) uint64 {
	t.Helper()
	return histogram(t, m).GetSampleCount()
}

func histogramBucket(t *testing.T, m *Metrics, le string) uint64 {
	t.Helper()
	for _, b := range histogram(t, m).GetBucket() {
		if strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64) == le {
			return b.GetCumulativeCount()
		}
	}
	t.Fatalf("no bucket le=%s", le)
	return 0
}

func histogram(t *testing.T, m *Metrics) *dto.Histogram {
	t.Helper()
	families, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "pilot_proxy_convergence_time" {
			return f.GetMetric()[0].GetHistogram()
		}
	}
	t.Fatal("no pilot_proxy_convergence_time")
	return nil
}
