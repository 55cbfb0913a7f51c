package stats

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

var self = SelfFromMetadata(map[string]string{
	"WORKLOAD_NAME": "productpage-v1", "NAMESPACE": "default", "LABELS": "app=productpage,version=v1",
})

func scrape(t *testing.T, r *Registry) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// sample returns the value of the line with that metric name whose labels
// contain every given label pair, or -1.
func sample(text, name string, pairs ...string) string {
	for line := range strings.SplitSeq(text, "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		ok := true
		for _, p := range pairs {
			if !strings.Contains(line, p) {
				ok = false
				break
			}
		}
		if ok {
			return line[strings.LastIndexByte(line, ' ')+1:]
		}
	}
	return "-1"
}

func TestOutboundHTTP(t *testing.T) {
	r := NewRegistry(self)
	info := &hcm.RequestInfo{Status: 200, GRPCStatus: -1, Duration: 3 * time.Millisecond, ResponseBytes: 150,
		Service:          "reviews.default.svc.cluster.local;reviews;default",
		UpstreamWorkload: "reviews-v2;default;reviews;v2;Kubernetes;reviews;v2"}
	for range 3 {
		r.ObserveHTTP(info)
	}
	info2 := *info
	info2.Status, info2.Flags = 503, hcm.UpstreamConnectionFailure|hcm.UpstreamRetryLimitExceeded
	r.ObserveHTTP(&info2)
	text := scrape(t, r)
	base := []string{`reporter="source"`, `source_workload="productpage-v1"`, `source_app="productpage"`,
		`destination_workload="reviews-v2"`, `destination_version="v2"`, `destination_service="reviews.default.svc.cluster.local"`,
		`destination_service_name="reviews"`, `destination_service_namespace="default"`, `request_protocol="http"`,
		`connection_security_policy="unknown"`, `source_principal="unknown"`}
	if got := sample(text, RequestsTotal, append(base, `response_code="200"`, `response_flags="-"`)...); got != "3" {
		t.Errorf("200 requests = %s, want 3\n%s", got, text)
	}
	if got := sample(text, RequestsTotal, append(base, `response_code="503"`, `response_flags="UF,URX"`)...); got != "1" {
		t.Errorf("503 requests = %s, want 1", got)
	}
	if got := sample(text, RequestDuration+"_bucket", `response_code="200"`, `le="1"`); got != "0" {
		t.Errorf("le=1 bucket = %s, want 0", got)
	}
	if got := sample(text, RequestDuration+"_bucket", `response_code="200"`, `le="5"`); got != "3" {
		t.Errorf("le=5 bucket = %s, want 3", got)
	}
	if got := sample(text, RequestDuration+"_sum", `response_code="200"`); got != "9" {
		t.Errorf("duration sum = %s, want 9", got)
	}
	if got := sample(text, ResponseBytes+"_bucket", `response_code="200"`, `le="1000"`); got != "3" {
		t.Errorf("response bytes le=1000 = %s, want 3", got)
	}
	if got := sample(text, ResponseBytes+"_bucket", `response_code="200"`, `le="100"`); got != "0" {
		t.Errorf("response bytes le=100 = %s, want 0", got)
	}
}

func TestInboundGRPCAndDedup(t *testing.T) {
	r := NewRegistry(SelfFromMetadata(map[string]string{"WORKLOAD_NAME": "ratings-v1", "NAMESPACE": "default"}))
	peer := "reviews-v2;default;reviews;v2;Kubernetes;reviews;v2"
	// Two authorities of one service make two keys but one series.
	for _, a := range []string{"ratings:9080", "ratings.default.svc.cluster.local:9080"} {
		r.ObserveHTTP(&hcm.RequestInfo{Inbound: true, GRPC: true, Status: 200, GRPCStatus: 14, PeerMetadata: peer, Authority: a,
			Service: "ratings.default.svc.cluster.local;ratings;default"})
	}
	r.ObserveHTTP(&hcm.RequestInfo{Inbound: true, Status: 404, GRPCStatus: -1, Authority: "nowhere:80", Flags: hcm.NoRouteFound})
	text := scrape(t, r)
	if got := sample(text, RequestsTotal, `reporter="destination"`, `source_workload="reviews-v2"`, `source_version="v2"`,
		`destination_workload="ratings-v1"`, `destination_app="unknown"`, `destination_canonical_service="ratings-v1"`,
		`destination_canonical_revision="latest"`, `request_protocol="grpc"`, `grpc_response_status="14"`,
		`connection_security_policy="none"`); got != "2" {
		t.Errorf("grpc requests = %s, want 2\n%s", got, text)
	}
	if n := strings.Count(text, RequestsTotal+"{"); n != 2 {
		t.Errorf("%d series, want 2", n)
	}
	if got := sample(text, RequestsTotal, `source_workload="unknown"`, `destination_service="nowhere"`, `response_flags="NR"`, `grpc_response_status=""`); got != "1" {
		t.Errorf("NR requests = %s, want 1", got)
	}
}

func TestTCP(t *testing.T) {
	r := NewRegistry(self)
	s := r.TCP(false, 0, "mysql-v1;db;mysql;v1;Kubernetes;mysql;v1", "", "mysql.db.svc.cluster.local;mysql;db", nil)
	s.Opened()
	s.Opened()
	s.Closed(100, 20)
	if r.TCP(false, 0, "mysql-v1;db;mysql;v1;Kubernetes;mysql;v1", "", "mysql.db.svc.cluster.local;mysql;db", nil) != s {
		t.Fatal("same key, different series")
	}
	text := scrape(t, r)
	for name, want := range map[string]string{TCPConnectionsOpened: "2", TCPConnectionsClosed: "1", TCPSentBytes: "100", TCPReceivedBytes: "20"} {
		if got := sample(text, name, `reporter="source"`, `destination_workload="mysql-v1"`, `request_protocol="tcp"`); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	if strings.Contains(text, "response_code") {
		t.Error("TCP series carry response_code")
	}
}

func TestSeriesBound(t *testing.T) {
	r := NewRegistry(self)
	r.maxSeries = 64
	for i := range r.maxSeries + 10 {
		r.ObserveHTTP(&hcm.RequestInfo{Inbound: true, Status: 200, GRPCStatus: -1, PeerMetadata: "w" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)})
	}
	if n := len(r.http); n > r.maxSeries+1 {
		t.Fatalf("%d keys, want at most %d", n, r.maxSeries+1)
	}
	if got := sample(scrape(t, r), RequestsTotal, `source_workload="unknown"`); got != "10" {
		t.Fatalf("overflow series = %s, want 10", got)
	}
}

func TestParseService(t *testing.T) {
	for in, want := range map[string]Service{
		"":                                       {Unknown, Unknown, Unknown},
		"reviews.default.svc.cluster.local:9080": {"reviews.default.svc.cluster.local", "reviews", "default"},
		"a.b.c;a;ns":                             {"a.b.c", "a", "ns"},
		"example.com":                            {"example.com", "example.com", Unknown},
		"[::1]:80":                               {"[::1]", "[::1]", Unknown},
	} {
		if got := ParseService(in); got != want {
			t.Errorf("ParseService(%q) = %+v, want %+v", in, got, want)
		}
	}
}

func BenchmarkObserveHTTP(b *testing.B) {
	r := NewRegistry(self)
	info := &hcm.RequestInfo{Status: 200, GRPCStatus: -1, Duration: 3 * time.Millisecond, ResponseBytes: 150,
		Service: "reviews.default.svc.cluster.local;reviews;default", UpstreamWorkload: "reviews-v2;default;reviews;v2;Kubernetes;reviews;v2"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.ObserveHTTP(info)
		}
	})
}

func TestOverrides(t *testing.T) {
	r := NewRegistry(self)
	ov, err := r.Overrides([]MetricOverride{
		{Name: "requests_total", Remove: []string{"response_flags", "source_principal"}},
		{Name: "request_duration_milliseconds", Drop: true},
		{Set: map[string]string{"mesh": "demo", "request_protocol": "HTTP"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := r.Overrides([]MetricOverride{
		{Name: "requests_total", Remove: []string{"source_principal", "response_flags"}},
		{Name: "request_duration_milliseconds", Drop: true},
		{Set: map[string]string{"request_protocol": "HTTP", "mesh": "demo"}},
	})
	if again != ov {
		t.Fatal("equal overrides are not interned")
	}
	info := &hcm.RequestInfo{Status: 200, GRPCStatus: -1, Metrics: ov, Service: "a.b.svc.cluster.local;a;b"}
	r.ObserveHTTP(info)
	r.ObserveHTTP(info)
	text := scrape(t, r)
	if got := sample(text, RequestsTotal, `mesh="demo"`, `request_protocol="HTTP"`); got != "2" {
		t.Errorf("requests with overrides = %s, want 2\n%s", got, text)
	}
	line := ""
	for l := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(l, RequestsTotal+"{") {
			line = l
		}
	}
	if strings.Contains(line, "response_flags") || strings.Contains(line, "source_principal") {
		t.Errorf("removed labels still there: %s", line)
	}
	if strings.Contains(text, RequestDuration) {
		t.Errorf("dropped histogram still written:\n%s", text)
	}
	if got := sample(text, ResponseBytes+"_count", `mesh="demo"`, `response_flags="-"`); got != "2" {
		t.Errorf("response bytes count = %s, want 2 (with response_flags)", got)
	}
	if _, err := r.Overrides([]MetricOverride{{Name: "nope"}}); err == nil || err.Error() != `stats: unknown metric "nope"` {
		t.Errorf("unknown metric: %v", err)
	}
	s := r.TCP(true, 0, "", "", "", ov)
	s.Opened()
	if got := sample(scrape(t, r), TCPConnectionsOpened, `mesh="demo"`, `request_protocol="HTTP"`); got != "1" {
		t.Errorf("TCP opened with overrides = %s, want 1", got)
	}
}

// TestInboundMutualTLS: a request over mutual TLS reports the client's and
// this proxy's SPIFFE IDs and "mutual_tls"; a plaintext one "none" and
// unknown principals, even though the proxy knows its own ID.
func TestInboundMutualTLS(t *testing.T) {
	me := SelfFromMetadata(map[string]string{"WORKLOAD_NAME": "ratings-v1", "NAMESPACE": "default"})
	me.Principal = "spiffe://cluster.local/ns/default/sa/ratings"
	r := NewRegistry(me)
	peer := "reviews-v2;default;reviews;v2;Kubernetes;reviews;v2"
	for range 3 {
		r.ObserveHTTP(&hcm.RequestInfo{Inbound: true, Status: 200, GRPCStatus: -1, PeerMetadata: peer, Authority: "ratings:9080",
			MutualTLS: true, PeerPrincipal: "spiffe://cluster.local/ns/default/sa/reviews"})
	}
	r.ObserveHTTP(&hcm.RequestInfo{Inbound: true, Status: 200, GRPCStatus: -1, PeerMetadata: peer, Authority: "ratings:9080"})
	text := scrape(t, r)
	if got := sample(text, RequestsTotal, `source_principal="spiffe://cluster.local/ns/default/sa/reviews"`,
		`destination_principal="spiffe://cluster.local/ns/default/sa/ratings"`, `connection_security_policy="mutual_tls"`); got != "3" {
		t.Errorf("mutual TLS requests = %s, want 3\n%s", got, text)
	}
	if got := sample(text, RequestsTotal, `source_principal="unknown"`, `destination_principal="unknown"`,
		`connection_security_policy="none"`); got != "1" {
		t.Errorf("plaintext requests = %s, want 1\n%s", got, text)
	}
}

// TestInboundTCPMutualTLS: an inbound TCP connection over mutual TLS
// reports the principals; a plaintext one does not.
func TestInboundTCPMutualTLS(t *testing.T) {
	me := SelfFromMetadata(map[string]string{"WORKLOAD_NAME": "db-v1", "NAMESPACE": "default"})
	me.Principal = "spiffe://cluster.local/ns/default/sa/db"
	r := NewRegistry(me)
	r.TCPOpened(true, 0, "", "", "spiffe://cluster.local/ns/default/sa/app", nil)(10, 20)
	r.TCPOpened(true, 0, "", "", "spiffe://cluster.local/ns/default/sa/app", nil)(1, 2)
	r.TCPOpened(true, 0, "", "", "", nil)(5, 5)
	text := scrape(t, r)
	if got := sample(text, "istio_tcp_received_bytes_total", `source_principal="spiffe://cluster.local/ns/default/sa/app"`,
		`destination_principal="spiffe://cluster.local/ns/default/sa/db"`, `connection_security_policy="mutual_tls"`); got != "22" {
		t.Errorf("mutual TLS bytes received = %s, want 22\n%s", got, text)
	}
	if got := sample(text, "istio_tcp_connections_opened_total", `source_principal="unknown"`,
		`connection_security_policy="none"`); got != "1" {
		t.Errorf("plaintext connections = %s, want 1\n%s", got, text)
	}
}

// TestOutboundMutualTLS: on the client's side (reporter "source"), a
// request or TCP connection to a host reached over mutual TLS reports this
// proxy's SPIFFE ID as source_principal and the host's as
// destination_principal (connection_security_policy stays "unknown", as in
// Istio); one in plaintext reports unknown principals.
func TestOutboundMutualTLS(t *testing.T) {
	me := SelfFromMetadata(map[string]string{"WORKLOAD_NAME": "productpage-v1", "NAMESPACE": "default"})
	me.Principal = "spiffe://cluster.local/ns/default/sa/productpage"
	r := NewRegistry(me)
	const (
		upstream = "reviews-v2;default;reviews;v2;Kubernetes;reviews;v2"
		reviews  = "spiffe://cluster.local/ns/default/sa/reviews"
	)
	for range 4 {
		r.ObserveHTTP(&hcm.RequestInfo{Status: 200, GRPCStatus: -1, UpstreamWorkload: upstream, UpstreamPrincipal: reviews,
			Service: "reviews.default.svc.cluster.local;reviews;default"})
	}
	r.ObserveHTTP(&hcm.RequestInfo{Status: 200, GRPCStatus: -1, UpstreamWorkload: upstream,
		Service: "reviews.default.svc.cluster.local;reviews;default"})
	r.TCPOpened(false, 0, "db.default.svc.cluster.local;db;default", "db-v1;default;db;v1;Kubernetes;db;v1",
		"spiffe://cluster.local/ns/default/sa/db", nil)(7, 3)
	text := scrape(t, r)
	if got := sample(text, RequestsTotal, `reporter="source"`, `source_principal="spiffe://cluster.local/ns/default/sa/productpage"`,
		`destination_principal="`+reviews+`"`, `destination_workload="reviews-v2"`, `connection_security_policy="unknown"`); got != "4" {
		t.Errorf("outbound mutual-TLS requests = %s, want 4\n%s", got, text)
	}
	if got := sample(text, RequestsTotal, `reporter="source"`, `source_principal="unknown"`,
		`destination_principal="unknown"`, `destination_workload="reviews-v2"`); got != "1" {
		t.Errorf("outbound plaintext requests = %s, want 1\n%s", got, text)
	}
	if got := sample(text, "istio_tcp_sent_bytes_total", `reporter="source"`, `source_principal="spiffe://cluster.local/ns/default/sa/productpage"`,
		`destination_principal="spiffe://cluster.local/ns/default/sa/db"`); got != "7" {
		t.Errorf("outbound mutual-TLS TCP bytes sent = %s, want 7\n%s", got, text)
	}
}

// BenchmarkWritePrometheus is one scrape of a sidecar that talked to 20
// peers (about 800 KB of text): written in chunks from a pooled buffer,
// with the bucket labels formatted once, a scrape allocates nothing.
func BenchmarkWritePrometheus(b *testing.B) {
	r := NewRegistry(self)
	for i := range 20 {
		r.ObserveHTTP(&hcm.RequestInfo{Status: 200 + i, GRPCStatus: -1, Duration: 3 * time.Millisecond, ResponseBytes: 150,
			Service: "reviews.default.svc.cluster.local;reviews;default", UpstreamWorkload: "reviews-v2;default;reviews;v2;Kubernetes;reviews;v2"})
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.WritePrometheus(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
