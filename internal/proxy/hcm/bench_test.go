package hcm

import (
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

// istioLimits are the circuit breakers Istio gives every cluster whose
// DestinationRule sets none.
var istioLimits = upstream.Thresholds{MaxConnections: math.MaxUint32, MaxPendingRequests: math.MaxUint32,
	MaxRequests: math.MaxUint32, MaxRetries: math.MaxUint32}

// BenchmarkServe proxies a GET through Serve to a local backend (HTTP/1.1
// keep-alive) and reports the proxy's allocations per request.
func BenchmarkServe(b *testing.B) {
	benchServe(b, router.Action{Cluster: "c"})
}

// BenchmarkServeIstioRoute is BenchmarkServe on a route shaped as Istio's
// default: timeout 0, max_grpc_timeout 0 and the default retry policy.
func BenchmarkServeIstioRoute(b *testing.B) {
	on, _ := router.ParseRetryOn("connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes")
	benchServe(b, router.Action{Cluster: "c", HasMaxGRPCTimeout: true,
		Retry: &router.RetryPolicy{On: on, NumRetries: 2, StatusCodes: []uint32{503}, AvoidPreviousHosts: true, HostSelectionMaxAttempts: 5}})
}

// benchServe proxies GETs over a route with action to cluster "c", a local
// backend with Istio's circuit breakers.
func benchServe(b *testing.B, action router.Action) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2")
		_, _ = io.WriteString(w, "ok")
	}))
	defer backend.Close()
	log := slog.New(slog.DiscardHandler)
	um := upstream.NewManager(log)
	if err := um.UpdateClusters([]upstream.Config{{Name: "c", Type: upstream.Static, ConnectTimeout: time.Second, Limits: &istioLimits,
		Endpoints: []upstream.EndpointConfig{{Address: backend.Listener.Addr().String(), Weight: 1}}}}); err != nil {
		b.Fatal(err)
	}
	tb, err := router.NewTable("r", []router.VirtualHostConfig{{Name: "vh", Domains: []string{"*"}, Routes: []router.RouteConfig{
		{Name: "r", Match: router.Match{Path: "/"}, Action: action},
	}}})
	if err != nil {
		b.Fatal(err)
	}
	s := NewServer(Options{Routes: routes{"r": tb}, Clusters: um, Log: log})
	cfg := &Config{RouteConfigName: "r", GenerateRequestID: true}
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
