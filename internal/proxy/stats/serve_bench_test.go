package stats_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/router"
	"github.com/halyard-mesh/halyard/internal/proxy/stats"
	"github.com/halyard-mesh/halyard/internal/proxy/tap"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

type routes map[string]*router.Table

func (r routes) RouteTable(name string) *router.Table { return r[name] }

// BenchmarkServeTelemetry is hcm's BenchmarkServe with the sidecar's
// telemetry on: peer metadata headers, metrics and an idle tap hub. Its
// allocations per request, against BenchmarkServe's, are telemetry's cost.
func BenchmarkServeTelemetry(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2")
		_, _ = io.WriteString(w, "ok")
	}))
	defer backend.Close()
	log := slog.New(slog.DiscardHandler)
	um := upstream.NewManager(log)
	if err := um.UpdateClusters([]upstream.Config{{Name: "c", Type: upstream.Static, ConnectTimeout: time.Second,
		Service:   "svc.default.svc.cluster.local;svc;default",
		Endpoints: []upstream.EndpointConfig{{Address: backend.Listener.Addr().String(), Weight: 1, Workload: "svc-v1;default;svc;v1;Kubernetes;svc;v1"}}}}); err != nil {
		b.Fatal(err)
	}
	tb, err := router.NewTable("r", []router.VirtualHostConfig{{Name: "vh", Domains: []string{"*"}, Routes: []router.RouteConfig{
		{Name: "r", Match: router.Match{Path: "/"}, Action: router.Action{Cluster: "c"}},
	}}})
	if err != nil {
		b.Fatal(err)
	}
	self := stats.SelfFromMetadata(map[string]string{"WORKLOAD_NAME": "client", "NAMESPACE": "default"})
	reg, hub := stats.NewRegistry(self), tap.NewHub(self)
	s := hcm.NewServer(hcm.Options{Routes: routes{"r": tb}, Clusters: um, Log: log,
		PeerMetadata: self.Encode(), PeerID: "sidecar~127.0.0.1~client.default~default.svc.cluster.local",
		OnDone: func(info *hcm.RequestInfo) {
			reg.ObserveHTTP(info)
			hub.Publish(info)
		}})
	cfg := &hcm.Config{RouteConfigName: "r", GenerateRequestID: true}
	req := httptest.NewRequest("GET", "http://svc/x", nil)
	req.RemoteAddr = "127.0.0.1:5555"
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.Serve(w, req, "l", cfg)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
