package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// promSample is one line of the Prometheus text format.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape reads a sidecar's /stats/prometheus.
func scrape(t *testing.T, adminAddr string) []promSample {
	t.Helper()
	res, err := http.Get("http://" + adminAddr + "/stats/prometheus")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("scrape %s: status %d, error %v", adminAddr, res.StatusCode, err)
	}
	var out []promSample
	for line := range strings.SplitSeq(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		open, end := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}')
		if open < 0 || end < open {
			t.Fatalf("malformed sample %q", line)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil {
			t.Fatalf("malformed value in %q", line)
		}
		s := promSample{name: line[:open], labels: map[string]string{}, value: v}
		for pair := range strings.SplitSeq(line[open+1:end], `",`) {
			k, val, _ := strings.Cut(pair, `="`)
			s.labels[k] = strings.TrimSuffix(val, `"`)
		}
		out = append(out, s)
	}
	return out
}

// sum adds the values of the samples of a metric whose labels include want.
func sum(samples []promSample, name string, want map[string]string) float64 {
	var total float64
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		total += s.value
	}
	return total
}

// TestTelemetryMetrics sends requests to reviews from the exec client's
// sidecar and checks that istio_requests_total counts exactly them, per
// version, at the client sidecar (reporter source) and at the reviews
// sidecars (reporter destination), with both sides' workloads.
func TestTelemetryMetrics(t *testing.T) {
	m := startMesh(t, bookinfo())
	c := m.client("halyard-exec")
	sent := countVersions(t, c, "http://reviews:9080/", nil, 60)
	jason := countVersions(t, c, "http://reviews:9080/", http.Header{"End-User": {"jason"}}, 20)
	sent["v2"] += jason["v2"]
	t.Logf("sent to reviews by version: %v", sent)

	client, _ := m.state.Pod("halyard-exec")
	src := scrape(t, client.AdminAddress)
	for _, v := range []string{"v1", "v2", "v3"} {
		got := sum(src, "istio_requests_total", map[string]string{
			"reporter": "source", "source_workload": "halyard-exec", "source_workload_namespace": "default",
			"destination_service": "reviews.default.svc.cluster.local", "destination_service_name": "reviews",
			"destination_workload": "reviews-" + v, "destination_version": v, "destination_app": "reviews",
			"destination_canonical_service": "reviews", "destination_canonical_revision": v,
			"request_protocol": "http", "response_code": "200", "response_flags": "-", "connection_security_policy": "unknown",
		})
		if got != float64(sent[v]) {
			t.Errorf("client sidecar: istio_requests_total to reviews %s = %v, want %d", v, got, sent[v])
		}
		if n := sum(src, "istio_request_duration_milliseconds_count", map[string]string{"reporter": "source", "destination_version": v}); n != float64(sent[v]) {
			t.Errorf("client sidecar: duration histogram count for %s = %v, want %d", v, n, sent[v])
		}
	}

	for _, v := range []string{"v1", "v2", "v3"} {
		var got float64
		for pod := range m.podNames("reviews-" + v) {
			p, _ := m.state.Pod(pod)
			got += sum(scrape(t, p.AdminAddress), "istio_requests_total", map[string]string{
				"reporter": "destination", "source_workload": "halyard-exec", "source_workload_namespace": "default",
				"destination_workload": "reviews-" + v, "destination_version": v, "destination_app": "reviews",
				"destination_service": "reviews.default.svc.cluster.local", "response_code": "200",
				// sidecar to sidecar is mutual TLS (PERMISSIVE by default)
				"connection_security_policy": "mutual_tls",
				"source_principal":           "spiffe://cluster.local/ns/default/sa/default",
				"destination_principal":      "spiffe://cluster.local/ns/default/sa/bookinfo-reviews",
			})
		}
		if got != float64(sent[v]) {
			t.Errorf("reviews-%s sidecars: istio_requests_total from halyard-exec = %v, want %d", v, got, sent[v])
		}
	}

	// An unknown host is a 404 with flag NR on the client side.
	if status, _, _, err := get(c, "http://nosuchservice:9080/", nil); err != nil || status != 404 {
		t.Fatalf("nosuchservice: status %d, err %v", status, err)
	}
	if got := sum(scrape(t, client.AdminAddress), "istio_requests_total", map[string]string{
		"reporter": "source", "response_code": "404", "response_flags": "NR", "destination_service": "nosuchservice",
	}); got != 1 {
		t.Errorf("NR requests = %v, want 1", got)
	}
}

// TestTelemetryTap follows the client sidecar's tap stream while
// productpage is called, and checks the events of the requests.
func TestTelemetryTap(t *testing.T) {
	m := startMesh(t, bookinfo())
	c := m.client("halyard-exec")
	client, _ := m.state.Pod("halyard-exec")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+client.AdminAddress+"/debug/tap?path=/tapped", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); res.StatusCode != 200 || ct != "application/x-ndjson" {
		t.Fatalf("tap: status %d, content type %q", res.StatusCode, ct)
	}
	const n = 5
	for i := range n {
		if status, _, _, err := get(c, "http://ratings:9080/tapped/"+strconv.Itoa(i), nil); err != nil || status != 200 {
			t.Fatalf("request %d: status %d, err %v", i, status, err)
		}
		if status, _, _, err := get(c, "http://ratings:9080/untapped", nil); err != nil || status != 200 {
			t.Fatalf("untapped request: status %d, err %v", status, err)
		}
	}
	sc := bufio.NewScanner(res.Body)
	for i := range n {
		if !sc.Scan() {
			t.Fatalf("tap ended after %d events: %v", i, sc.Err())
		}
		var e struct {
			Time, Direction, Protocol, Method, Authority, Path, Flags string
			Status                                                    int
			DurationMs                                                float64
			SourceWorkload, DestinationService, DestinationWorkload   string
			UpstreamHost                                              string
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("event %d: %v: %s", i, err, sc.Bytes())
		}
		if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
			t.Errorf("event %d: time %q: %v", i, e.Time, err)
		}
		want := "/tapped/" + strconv.Itoa(i)
		if e.Path != want || e.Direction != "outbound" || e.Protocol != "http" || e.Method != "GET" || e.Status != 200 ||
			e.Flags != "-" || e.SourceWorkload != "halyard-exec" || e.DestinationService != "ratings.default.svc.cluster.local" ||
			e.DestinationWorkload != "ratings-v1" || e.UpstreamHost == "" || e.DurationMs <= 0 {
			t.Errorf("event %d: %s", i, sc.Bytes())
		}
	}
}

// TestTelemetryAccessLog turns access logs on with MeshConfig
// accessLogFile and checks the client sidecar's line in Istio's default
// format, and the JSON line a workload Telemetry gives ratings' sidecar.
func TestTelemetryAccessLog(t *testing.T) {
	files := bookinfo()
	files["mesh.yaml"] = `apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |
    accessLogFile: /dev/stdout
    extensionProviders:
    - name: json
      envoyFileAccessLog:
        path: /dev/stdout
        logFormat:
          labels:
            status: "%RESPONSE_CODE%"
            request_id: "%REQ(X-REQUEST-ID)%"
            upstream_cluster: "%UPSTREAM_CLUSTER%"
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: ratings-json
  namespace: default
spec:
  selector:
    matchLabels: {app: ratings}
  accessLogging:
  - match: {mode: SERVER}
    providers:
    - name: json
`
	m := startMesh(t, files)
	c := m.client("halyard-exec")
	const id = "e2e-access-log-1"
	if status, _, body, err := get(c, "http://ratings:9080/ratings/7", http.Header{"X-Request-Id": {id}, "User-Agent": {"e2e"}}); err != nil || status != 200 {
		t.Fatalf("status %d, err %v, body %s", status, err, body)
	}
	logOf := func(pod string) string {
		b, _ := os.ReadFile(filepath.Join(m.stateDir, "logs", "default."+pod+".halyard-proxy.log"))
		return string(b)
	}
	var line string
	waitFor(t, 10*time.Second, func() bool {
		for l := range strings.SplitSeq(logOf("halyard-exec"), "\n") {
			if strings.Contains(l, id) {
				line = l
				return true
			}
		}
		return false
	})
	want := regexp.MustCompile(`^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "GET /ratings/7 HTTP/1.1" 200 - via_upstream - "-" 0 \d+ \d+ - "-" "e2e" "` + id +
		`" "ratings:9080" "127\.0\.0\.1:\d+" outbound\|9080\|\|ratings\.default\.svc\.cluster\.local - 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+ - default$`)
	if !want.MatchString(line) {
		t.Errorf("client access log line\n%s\ndoes not match\n%s", line, want)
	}

	ratings := ""
	for pod := range m.podNames("ratings-v1") {
		ratings = pod
	}
	var entry map[string]any
	waitFor(t, 10*time.Second, func() bool {
		for l := range strings.SplitSeq(logOf(ratings), "\n") {
			if strings.HasPrefix(l, "{") && strings.Contains(l, id) {
				return json.Unmarshal([]byte(l), &entry) == nil
			}
		}
		return false
	})
	if entry["status"] != "200" || entry["request_id"] != id || entry["upstream_cluster"] != "inbound|9080||" {
		t.Errorf("ratings JSON access log entry %v", entry)
	}
}

// TestTelemetryTCPAndGRPC checks the TCP counters (connections and bytes,
// both reporters) of tunnelled TCP connections, and istio_requests_total
// with request_protocol grpc and grpc_response_status for gRPC calls.
func TestTelemetryTCPAndGRPC(t *testing.T) {
	m := startMesh(t, map[string]string{
		"grpc.yaml": grpcEcho,
		"mesh.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |
    accessLogFile: /dev/stdout
`,
		"raw.yaml": `apiVersion: v1
kind: Service
metadata:
  name: raw
spec:
  selector: {app: raw}
  ports:
  - {name: tcp, port: 9000, targetPort: 9000}
---
` + sampleDeployment("raw-v1", "raw", "v1", "tcp", 9000, 1),
	})
	client, _ := m.state.Pod("halyard-exec")

	const conns = 5
	var sent, received int
	for range conns {
		conn, br := connectTunnel(t, client.OutboundAddress, "raw:9000")
		req := "GET / HTTP/1.1\r\nHost: raw:9000\r\nConnection: close\r\n\r\n"
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(br) // the reply, until the app closes
		if err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 200") {
			t.Fatalf("through the tunnel: %v: %q", err, b)
		}
		conn.Close()
		sent += len(req)
		received += len(b)
	}
	src := map[string]string{"reporter": "source", "source_workload": "halyard-exec", "destination_workload": "raw-v1",
		"destination_service": "raw.default.svc.cluster.local", "request_protocol": "tcp", "response_flags": "-",
		// over mutual TLS between the sidecars: both service accounts are "default"
		"source_principal": "spiffe://cluster.local/ns/default/sa/default", "destination_principal": "spiffe://cluster.local/ns/default/sa/default"}
	var samples []promSample
	waitFor(t, 10*time.Second, func() bool {
		samples = scrape(t, client.AdminAddress)
		return sum(samples, "istio_tcp_connections_closed_total", src) == conns
	})
	for name, want := range map[string]int{
		"istio_tcp_connections_opened_total": conns,
		"istio_tcp_received_bytes_total":     sent,     // from the downstream (this test)
		"istio_tcp_sent_bytes_total":         received, // to the downstream
	} {
		if got := sum(samples, name, src); got != float64(want) {
			t.Errorf("client sidecar: %s = %v, want %d", name, got, want)
		}
	}
	// One access log line per connection, Istio's format with the request
	// fields empty, as Envoy's for TCP.
	logLine := regexp.MustCompile(`^\[[^]]+\] "- - -" 0 - - - "-" ` + strconv.Itoa(sent/conns) + " " + strconv.Itoa(received/conns) +
		` \d+ - "-" "-" "-" "-" "127\.0\.0\.1:\d+" outbound\|9000\|\|raw\.default\.svc\.cluster\.local - - - - -$`)
	var lines int
	b, _ := os.ReadFile(filepath.Join(m.stateDir, "logs", "default.halyard-exec.halyard-proxy.log"))
	for l := range strings.SplitSeq(string(b), "\n") {
		if strings.Contains(l, "outbound|9000||raw") {
			lines++
			if !logLine.MatchString(l) {
				t.Errorf("TCP access log line\n%s\ndoes not match\n%s", l, logLine)
			}
		}
	}
	if lines != conns {
		t.Errorf("%d TCP access log lines, want %d", lines, conns)
	}

	var rawPod string
	for p := range m.podNames("raw-v1") {
		rawPod = p
	}
	raw, _ := m.state.Pod(rawPod)
	dst := map[string]string{"reporter": "destination", "source_workload": "unknown", "destination_workload": "raw-v1",
		"destination_app": "raw", "request_protocol": "tcp"}
	waitFor(t, 10*time.Second, func() bool {
		samples = scrape(t, raw.AdminAddress)
		return sum(samples, "istio_tcp_connections_closed_total", dst) == conns
	})
	if got := sum(samples, "istio_tcp_received_bytes_total", dst); got != float64(sent) {
		t.Errorf("raw sidecar: received bytes %v, want %d", got, sent)
	}

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const calls = 30
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Setenv(grpcClientEnv, fmt.Sprintf("grpc-echo:9090 %d", calls))
	if out, err := m.halyard(ctx, "exec", "--", self); err != nil {
		t.Fatalf("grpc client: %v\n%s", err, out)
	}
	grpcSrc := map[string]string{"reporter": "source", "source_workload": "halyard-exec", "request_protocol": "grpc",
		"destination_service": "grpc-echo.default.svc.cluster.local", "destination_workload": "grpc-echo",
		"response_code": "200", "grpc_response_status": "0"}
	if got := sum(scrape(t, client.AdminAddress), "istio_requests_total", grpcSrc); got != calls {
		t.Errorf("client sidecar: gRPC calls = %v, want %d", got, calls)
	}
	var atServers float64
	for p := range m.podNames("grpc-echo") {
		ps, _ := m.state.Pod(p)
		atServers += sum(scrape(t, ps.AdminAddress), "istio_requests_total", map[string]string{
			"reporter": "destination", "source_workload": "halyard-exec", "request_protocol": "grpc", "grpc_response_status": "0"})
	}
	if atServers != calls {
		t.Errorf("grpc-echo sidecars: gRPC calls = %v, want %d", atServers, calls)
	}
}

// TestTelemetryMetricOverrides applies Telemetry metrics overrides: the
// mesh removes response_flags from istio_requests_total and adds a
// constant label on the client side; a workload Telemetry turns off the
// duration histogram of ratings' sidecar (server side).
func TestTelemetryMetricOverrides(t *testing.T) {
	files := bookinfo()
	files["telemetry.yaml"] = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
  metrics:
  - overrides:
    - match: {metric: REQUEST_COUNT, mode: CLIENT}
      tagOverrides:
        response_flags: {operation: REMOVE}
        mesh: {value: "'demo'"}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: namespace-default
  namespace: default
spec:
  metrics:
  - overrides:
    - match: {metric: REQUEST_COUNT, mode: SERVER}
      tagOverrides:
        level: {value: "'namespace'"}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: ratings
  namespace: default
spec:
  selector:
    matchLabels: {app: ratings}
  metrics:
  - overrides:
    - match: {metric: REQUEST_DURATION, mode: SERVER}
      disabled: true
`
	m := startMesh(t, files)
	c := m.client("halyard-exec")
	const n = 10
	for i := range n {
		if status, _, _, err := get(c, "http://ratings:9080/", nil); err != nil || status != 200 {
			t.Fatalf("request %d: status %d, err %v", i, status, err)
		}
	}
	client, _ := m.state.Pod("halyard-exec")
	src := scrape(t, client.AdminAddress)
	if got := sum(src, "istio_requests_total", map[string]string{"reporter": "source", "mesh": "demo", "destination_workload": "ratings-v1"}); got != n {
		t.Errorf("client: requests with mesh=demo = %v, want %d", got, n)
	}
	for _, s := range src {
		if _, has := s.labels["response_flags"]; has && s.name == "istio_requests_total" {
			t.Errorf("client: istio_requests_total still has response_flags: %v", s.labels)
		}
	}
	if got := sum(src, "istio_request_duration_milliseconds_count", map[string]string{"reporter": "source", "response_flags": "-"}); got != n {
		t.Errorf("client: duration count = %v, want %d (other metrics keep their labels)", got, n)
	}
	var ratings string
	for p := range m.podNames("ratings-v1") {
		ratings = p
	}
	rp, _ := m.state.Pod(ratings)
	dst := scrape(t, rp.AdminAddress)
	if got := sum(dst, "istio_requests_total", map[string]string{"reporter": "destination", "source_workload": "halyard-exec"}); got != n {
		t.Errorf("ratings: requests = %v, want %d", got, n)
	}
	if got := sum(dst, "istio_request_duration_milliseconds_count", nil); got != 0 {
		t.Errorf("ratings: duration histogram reported (%v), want it off", got)
	}
	// The levels merge: ratings' own Telemetry keeps the namespace's tag.
	if got := sum(dst, "istio_requests_total", map[string]string{"reporter": "destination", "level": "namespace"}); got != n {
		t.Errorf("ratings: requests with the namespace's level=namespace tag = %v, want %d", got, n)
	}
}
