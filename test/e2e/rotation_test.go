package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rotationMesh is two services of the sample app with their own service
// accounts: "keepalive" is reached over pooled connections, "fresh" over a
// new sidecar-to-sidecar connection per request (maxRequestsPerConnection 1),
// so every request to it is a new mutual-TLS handshake.
const rotationMesh = `apiVersion: v1
kind: ServiceAccount
metadata: {name: keepalive}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: fresh}
---
apiVersion: v1
kind: Service
metadata: {name: keepalive}
spec:
  selector: {app: keepalive}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: fresh}
spec:
  selector: {app: fresh}
  ports: [{name: http, port: 9080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: keepalive}
spec:
  selector: {matchLabels: {app: keepalive}}
  template:
    metadata: {labels: {app: keepalive, version: v1}}
    spec:
      serviceAccountName: keepalive
      containers:
      - name: app
        command: ["halyard", "sample", "--service", "keepalive", "--version", "v1", "--port", "$(PORT)"]
        ports: [{containerPort: 9080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: fresh}
spec:
  selector: {matchLabels: {app: fresh}}
  template:
    metadata: {labels: {app: fresh, version: v1}}
    spec:
      serviceAccountName: fresh
      containers:
      - name: app
        command: ["halyard", "sample", "--service", "fresh", "--version", "v1", "--port", "$(PORT)"]
        ports: [{containerPort: 9080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: fresh}
spec:
  host: fresh
  trafficPolicy:
    connectionPool:
      http: {maxRequestsPerConnection: 1}
`

const (
	rotationRun  = 2 * time.Minute
	rotationTick = 40 * time.Millisecond // per worker: 25 requests a second
	keepaliveID  = "spiffe://cluster.local/ns/default/sa/keepalive"
	execID       = "spiffe://cluster.local/ns/default/sa/default" // halyard exec's pod
)

// TestCertificateRotationUnderLoad: with 30 s workload certificates, four
// workers send requests for two minutes through the exec client's sidecar
// to two server sidecars over mutual TLS, on pooled and on new
// connections, and the test holds one mutual-TLS connection of its own to
// a server sidecar open throughout. No request may fail, the certificate
// the server sidecar serves must change at least three times, and the
// long-lived connections must outlive the rotations.
func TestCertificateRotationUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for two minutes")
	}
	m := startMesh(t, map[string]string{"rotation.yaml": rotationMesh}, "--workload-cert-ttl", "30s")
	ca := readMeshCA(t, m.stateDir)
	server, _ := m.state.Pod(firstPod(t, m, "keepalive"))
	inbound := endpointOf(t, m, "keepalive.default")
	meshTLS := workloadTLS(t, "spiffe://cluster.local/ns/default/sa/rotation-test", ca.cert, ca.key, ca.pool)
	if ttl := lifetimeOf(certsOf(t, server.AdminAddress)); ttl < 89*time.Second || ttl > 91*time.Second {
		t.Fatalf("the server sidecar's certificate is valid for %s, want 1m30s (30s, NotBefore backdated 1m)", ttl)
	}

	ctx, cancel := context.WithTimeout(t.Context(), rotationRun)
	defer cancel()
	conns := watchConns(ctx, inbound)
	var wg sync.WaitGroup
	pooled := m.client("halyard-exec")
	fresh := m.client("halyard-exec")
	fresh.Transport.(*http.Transport).DisableKeepAlives = true
	results := []*workerResult{
		{name: "keep-alive 1"}, {name: "keep-alive 2"}, {name: "new connections"}, {name: "long-lived mTLS"},
	}
	wg.Go(func() { results[0].run(ctx, func() error { return getOK(pooled, "http://keepalive:9080/") }) })
	wg.Go(func() { results[1].run(ctx, func() error { return getOK(pooled, "http://keepalive:9080/") }) })
	wg.Go(func() { results[2].run(ctx, func() error { return getOK(fresh, "http://fresh:9080/") }) })
	long := dialLongLived(t, inbound, meshTLS)
	conns.ignore(long.LocalAddr())
	wg.Go(func() { results[3].run(ctx, long.get) })
	served := observeServed(ctx, t, inbound, server.AdminAddress, meshTLS, conns)
	wg.Wait()

	total := 0
	for _, r := range results {
		t.Logf("%s: %d requests, %d failed %v", r.name, r.ok+r.failed, r.failed, r.errs)
		total += r.ok + r.failed
		if want := int(rotationRun / rotationTick / 2); r.failed > 0 || r.ok < want {
			t.Errorf("%s: %d requests succeeded, %d failed (want none failed, at least %d sent): %v", r.name, r.ok, r.failed, want, r.errs)
		}
	}
	t.Logf("%d requests in %s; certificates served by keepalive's sidecar: %v", total, rotationRun, served.serials)
	if changes := len(served.serials) - 1; changes < 3 {
		t.Errorf("the served certificate changed %d times in %s, want at least 3", changes, rotationRun)
	}
	if served.mismatches > 0 {
		t.Errorf("%d times the handshake served a certificate that /certs did not show", served.mismatches)
	}
	if len(served.serials) == 0 || long.serial == served.serials[len(served.serials)-1] {
		t.Errorf("the long-lived connection (certificate %s) did not outlive a rotation: served %v", long.serial, served.serials)
	}
	checkRotationPrincipals(t, m, server.AdminAddress, results[0].ok+results[1].ok)
	// The client sidecar's pooled connections to keepalive's sidecar: one
	// per concurrent request; a rotation that closed them would show a new
	// client port per rotation.
	ports := conns.ports()
	t.Logf("connections from the client sidecar to keepalive's sidecar over the run: %d (client ports %v)", len(ports), ports)
	if len(ports) == 0 || len(ports) > 2*2 {
		t.Errorf("%d sidecar-to-sidecar connections to keepalive over %d rotations, want 1 to 4 (one per concurrent keep-alive worker, with slack)", len(ports), len(served.serials)-1)
	}
}

// checkRotationPrincipals: both sidecars reported both principals for
// every request to keepalive (n), across all the rotations.
func checkRotationPrincipals(t *testing.T, m *mesh, serverAdmin string, n int) {
	t.Helper()
	exec, _ := m.state.Pod("halyard-exec")
	if got := sum(scrape(t, exec.AdminAddress), "istio_requests_total", map[string]string{
		"reporter": "source", "destination_workload": "keepalive", "response_code": "200",
		"source_principal": execID, "destination_principal": keepaliveID,
	}); got != float64(n) {
		t.Errorf("the client sidecar counted %v requests to keepalive with both principals, want %d", got, n)
	}
	if got := sum(scrape(t, serverAdmin), "istio_requests_total", map[string]string{
		"reporter": "destination", "source_workload": "halyard-exec", "connection_security_policy": "mutual_tls",
		"source_principal": execID, "destination_principal": keepaliveID,
	}); got != float64(n) {
		t.Errorf("keepalive's sidecar counted %v mutual-TLS requests from the client sidecar, want %d", got, n)
	}
}

// workerResult counts one worker's requests.
type workerResult struct {
	name       string
	ok, failed int
	errs       []string // the first few failures
}

// run calls send every rotationTick until ctx is done.
func (r *workerResult) run(ctx context.Context, send func() error) {
	tick := time.NewTicker(rotationTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := send(); err != nil {
			if ctx.Err() != nil {
				return // cut off by the end of the run
			}
			r.failed++
			if len(r.errs) < 5 {
				r.errs = append(r.errs, time.Now().Format("15:04:05.000")+" "+err.Error())
			}
			continue
		}
		r.ok++
	}
}

// getOK sends one GET and wants 200.
func getOK(c *http.Client, url string) error {
	code, _, body, err := get(c, url, nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("status %d: %.100s", code, body)
	}
	return nil
}

// longLived is one mutual-TLS connection to a sidecar's inbound address,
// speaking HTTP/1.1 keep-alive as a client sidecar would.
type longLived struct {
	*tls.Conn
	r      *bufio.Reader
	serial string // of the certificate the server presented
}

func dialLongLived(t *testing.T, addr string, cfg *tls.Config) *longLived {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("mutual TLS to %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &longLived{Conn: c, r: bufio.NewReader(c), serial: c.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)}
}

// get sends one request on the connection and wants 200.
func (l *longLived) get() error {
	_ = l.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(l, "GET / HTTP/1.1\r\nHost: keepalive:9080\r\n\r\n"); err != nil {
		return fmt.Errorf("long-lived connection: %w", err)
	}
	res, err := http.ReadResponse(l.r, nil)
	if err != nil {
		return fmt.Errorf("long-lived connection: %w", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Close {
		return fmt.Errorf("long-lived connection: status %d, close %v", res.StatusCode, res.Close)
	}
	return nil
}

// served is what observeServed saw: the distinct serial numbers a new
// handshake got, in order, and how often /certs disagreed.
type served struct {
	serials    []string
	mismatches int
}

// observeServed handshakes with the sidecar every 500 ms until ctx is done,
// recording the serial number it serves, and compares it with the
// workload certificate /certs on its admin address reports (read before
// and after the handshake, so a rotation in between is no mismatch).
func observeServed(ctx context.Context, t *testing.T, addr, admin string, cfg *tls.Config, conns *connWatch) *served {
	s := &served{}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return s
		case <-tick.C:
		}
		before := certsOf(t, admin).SerialNumber
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("handshake with %s: %v", addr, err)
			}
			continue
		}
		conns.ignore(c.LocalAddr())
		cs := c.ConnectionState()
		c.Close()
		if id := cs.PeerCertificates[0].URIs[0].String(); id != keepaliveID {
			t.Errorf("the sidecar served %s, want %s", id, keepaliveID)
		}
		got := cs.PeerCertificates[0].SerialNumber.Text(16)
		if after := certsOf(t, admin).SerialNumber; got != before && got != after {
			s.mismatches++
		}
		if len(s.serials) == 0 || s.serials[len(s.serials)-1] != got {
			s.serials = append(s.serials, got)
		}
	}
}

// certsOf returns the workload certificate a sidecar's /certs shows.
func certsOf(t *testing.T, admin string) certInfo {
	t.Helper()
	res, err := http.Get("http://" + admin + "/certs")
	if err != nil {
		t.Fatalf("GET /certs: %v", err)
	}
	defer res.Body.Close()
	var d certsDump
	if err := json.NewDecoder(res.Body).Decode(&d); err != nil || len(d.Certificates) != 1 || len(d.Certificates[0].CertChain) != 1 {
		t.Fatalf("GET /certs: %v, %+v", err, d)
	}
	return d.Certificates[0].CertChain[0]
}

func lifetimeOf(c certInfo) time.Duration { return c.ExpirationTime.Sub(c.ValidFrom) }

// connWatch records the client ports of the established TCP connections to
// one local address, from /proc/net/tcp every 250 ms, except ports the test
// itself used.
type connWatch struct {
	mu   sync.Mutex
	seen map[int]bool
	own  map[int]bool
}

func watchConns(ctx context.Context, addr string) *connWatch {
	w := &connWatch{seen: map[int]bool{}, own: map[int]bool{}}
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	go func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			w.scan(port)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *connWatch) ignore(a net.Addr) {
	w.mu.Lock()
	w.own[a.(*net.TCPAddr).Port] = true
	w.mu.Unlock()
}

// scan reads /proc/net/tcp: "sl local rem st ...", addresses as hex
// "0100007F:1F90", state 01 is ESTABLISHED.
func (w *connWatch) scan(port int) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return // no connection seen: the test fails
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "01" {
			continue
		}
		if hexPort(f[1]) == port {
			w.seen[hexPort(f[2])] = true
		}
	}
}

func hexPort(a string) int {
	_, p, _ := strings.Cut(a, ":")
	n, _ := strconv.ParseInt(p, 16, 32)
	return int(n)
}

// ports returns the client ports seen that the test did not use itself.
func (w *connWatch) ports() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []int
	for p := range w.seen {
		if !w.own[p] {
			out = append(out, p)
		}
	}
	return out
}
