// Package fakesidecar serves a sidecar's /stats/prometheus with Istio's
// standard metrics for given traffic, growing with time as real counters
// do. Tests of the scraper, the web UI and the Grafana dashboards use it
// in place of real sidecars.
package fakesidecar

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Edge is steady traffic from a client workload to a service.
type Edge struct {
	Source, SourceVersion           string // app and version of the client
	Destination, DestinationVersion string // service and version of the server
	Namespace                       string // of both
	RPS                             float64
	ErrorRatio                      float64 // share answered 503
	LatencyMs                       float64 // every request takes this long
	MTLS                            bool
}

// Server is a fake sidecar's admin endpoint.
type Server struct {
	edges []Edge
	start time.Time
	now   func() time.Time
	ln    net.Listener
	srv   *http.Server
	done  chan struct{}
}

// Start serves the metrics of edges on 127.0.0.1:0 until Close.
func Start(edges []Edge, now func() time.Time) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fakesidecar: %w", err)
	}
	s := &Server{edges: edges, start: now(), now: now, ln: ln, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats/prometheus", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, Text(s.edges, s.now().Sub(s.start)))
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // ends with Close
	}()
	return s, nil
}

// Addr is the host:port served.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
}

// Bookinfo is the demo's traffic, by the workload whose sidecar reports
// it (each edge is reported by its destination's sidecar).
func Bookinfo() map[string][]Edge {
	e := func(src, sv, dst, dv string, rps, errs, ms float64) Edge {
		return Edge{Source: src, SourceVersion: sv, Destination: dst, DestinationVersion: dv, Namespace: "default",
			RPS: rps, ErrorRatio: errs, LatencyMs: ms, MTLS: true}
	}
	return map[string][]Edge{
		"productpage-v1": {e("halyard-exec", "unknown", "productpage", "v1", 20, 0, 40)},
		"details-v1":     {e("productpage", "v1", "details", "v1", 20, 0, 3)},
		"reviews-v1":     {e("productpage", "v1", "reviews", "v1", 10, 0, 8)},
		"reviews-v2":     {e("productpage", "v1", "reviews", "v2", 5, 0, 20)},
		"reviews-v3":     {e("productpage", "v1", "reviews", "v3", 5, 0.2, 20)},
		"ratings-v1":     {e("reviews", "v2", "ratings", "v1", 5, 0, 2), e("reviews", "v3", "ratings", "v1", 5, 0, 2)},
	}
}

var buckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// Text renders the metrics of edges after elapsed of traffic.
func Text(edges []Edge, elapsed time.Duration) string {
	var b strings.Builder
	sec := elapsed.Seconds()
	for _, e := range edges {
		total := float64(int(e.RPS * sec))
		bad := float64(int(total * e.ErrorRatio))
		for _, reporter := range []string{"destination", "source"} {
			for _, code := range []struct {
				code string
				n    float64
			}{{"200", total - bad}, {"503", bad}} {
				l := labels(e, reporter, code.code)
				fmt.Fprintf(&b, "istio_requests_total{%s} %g\n", l, code.n)
				histogram(&b, "istio_request_duration_milliseconds", l, code.n, e.LatencyMs)
				histogram(&b, "istio_request_bytes", l, code.n, 300)
				histogram(&b, "istio_response_bytes", l, code.n, 2000)
			}
			l := labels(e, reporter, "")
			fmt.Fprintf(&b, "istio_tcp_sent_bytes_total{%s} %g\n", l, total*2000)
			fmt.Fprintf(&b, "istio_tcp_received_bytes_total{%s} %g\n", l, total*300)
			fmt.Fprintf(&b, "istio_tcp_connections_opened_total{%s} %g\n", l, float64(int(sec))+1)
			fmt.Fprintf(&b, "istio_tcp_connections_closed_total{%s} %g\n", l, float64(int(sec)))
		}
	}
	return b.String()
}

func histogram(b *strings.Builder, name, l string, n, value float64) {
	for _, le := range buckets {
		c := 0.0
		if value <= le {
			c = n
		}
		fmt.Fprintf(b, "%s_bucket{%s,le=\"%g\"} %g\n", name, l, le, c)
	}
	fmt.Fprintf(b, "%s_bucket{%s,le=\"+Inf\"} %g\n", name, l, n)
	fmt.Fprintf(b, "%s_sum{%s} %g\n", name, l, n*value)
	fmt.Fprintf(b, "%s_count{%s} %g\n", name, l, n)
}

func labels(e Edge, reporter, code string) string {
	policy := "none"
	if e.MTLS {
		policy = "mutual_tls"
	}
	srcWorkload, dstWorkload := e.Source+"-"+e.SourceVersion, e.Destination+"-"+e.DestinationVersion
	host := e.Destination + "." + e.Namespace + ".svc.cluster.local"
	sa := func(app string) string { return "spiffe://cluster.local/ns/" + e.Namespace + "/sa/" + app }
	pairs := []string{
		"reporter", reporter,
		"source_workload", srcWorkload, "source_workload_namespace", e.Namespace, "source_principal", sa(e.Source),
		"source_app", e.Source, "source_version", e.SourceVersion, "source_canonical_service", e.Source,
		"source_canonical_revision", e.SourceVersion, "source_cluster", "Kubernetes",
		"destination_workload", dstWorkload, "destination_workload_namespace", e.Namespace,
		"destination_principal", sa(e.Destination), "destination_app", e.Destination,
		"destination_version", e.DestinationVersion, "destination_service", host,
		"destination_service_name", e.Destination, "destination_service_namespace", e.Namespace,
		"destination_canonical_service", e.Destination, "destination_canonical_revision", e.DestinationVersion,
		"destination_cluster", "Kubernetes", "request_protocol", "http", "grpc_response_status", "",
		"response_flags", "-", "connection_security_policy", policy,
	}
	if code != "" {
		pairs = append(pairs, "response_code", code)
	}
	var b strings.Builder
	for i := 0; i < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", pairs[i], pairs[i+1])
	}
	return b.String()
}
