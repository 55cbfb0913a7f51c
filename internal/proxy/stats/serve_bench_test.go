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
	"github.com/halyard-mesh/halyard/internal/proxy/tracing"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

type routes map[string]*router.Table

func (r routes) RouteTable(name string) *router.Table { return r[name] }

// BenchmarkServeTelemetry is hcm's BenchmarkServe with the sidecar's
// telemetry on, step by step: metrics and an idle tap hub; plus the peer
// metadata headers; plus tracing at Istio's default 1% sampling. The
// allocations per request, against BenchmarkServe's, are telemetry's cost
// (the in-process backend's parsing of the extra headers included).
func BenchmarkServeTelemetry(b *testing.B) {
	b.Run("metrics+tap", func(b *testing.B) { benchServe(b, false, false) })
	b.Run("metrics+tap+peer", func(b *testing.B) { benchServe(b, true, false) })
	b.Run("metrics+tap+peer+tracing", func(b *testing.B) { benchServe(b, true, true) })
}

func benchServe(b *testing.B, peer, traced bool) {
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
	opts := hcm.Options{Routes: routes{"r": tb}, Clusters: um, Log: log,
		OnDone: func(info *hcm.RequestInfo) {
			reg.ObserveHTTP(info)
			hub.Publish(info)
		}}
	if peer {
		opts.PeerMetadata, opts.PeerID = self.Encode(), "sidecar~127.0.0.1~client.default~default.svc.cluster.local"
	}
	s := hcm.NewServer(opts)
	cfg := &hcm.Config{RouteConfigName: "r", GenerateRequestID: true}
	if traced {
		cfg.Tracer = tracing.New(tracing.Config{SamplingPercent: 1, ServiceName: "client.default"})
	}
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
