package e2e

// End-to-end tests of the DestinationRule features the proxy enforces on
// the upstream side: consistent hashing, circuit breakers, outlier
// detection, and TCP/TLS routing through CONNECT.

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/local"
)

// sampleService is a Service and a Deployment of the sample app whose
// instance name is its pod name. portName "tcp" makes the port opaque TCP.
func sampleService(name, portName string, port, replicas int, extraArgs ...string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  selector: {app: %[1]s}
  ports:
  - {name: %[2]s, port: %[3]d, targetPort: %[3]d}
---
%[5]s`, name, portName, port, replicas, sampleDeployment(name, name, "v1", portName, port, replicas, extraArgs...))
}

func sampleDeployment(deploy, app, version, portName string, port, replicas int, extraArgs ...string) string {
	args := ""
	for _, a := range extraArgs {
		args += fmt.Sprintf(", %q", a)
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[6]d
  selector:
    matchLabels: {app: %[2]s, version: %[3]s}
  template:
    metadata:
      labels: {app: %[2]s, version: %[3]s}
    spec:
      containers:
      - name: app
        image: ghcr.io/halyard-mesh/halyard:latest
        command: ["halyard", "sample", "--service", "%[2]s", "--version", "%[3]s", "--instance", "$(POD_NAME)", "--port", "$(PORT)"%[7]s]
        ports:
        - {name: %[4]s, containerPort: %[5]d}
        readinessProbe:
          httpGet: {path: /healthz, port: %[5]d}
`, deploy, app, version, portName, port, replicas, args)
}

// instanceGet sends one request and returns the status, the answering
// instance and the response.
func instanceGet(t *testing.T, c *http.Client, url string, h http.Header) (int, string, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Sample-Instance"), resp
}

// podNames returns the names of the running pods whose name starts with
// prefix.
func (m *mesh) podNames(prefix string) map[string]bool {
	st, err := local.ReadState(m.stateDir)
	if err != nil {
		m.t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range st.Pods {
		if strings.HasPrefix(p.Name, prefix) {
			out[p.Name] = true
		}
	}
	return out
}

const stickyRules = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: sticky
spec:
  host: sticky
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpHeaderName: x-user}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: cookie
spec:
  host: cookie
  trafficPolicy:
    loadBalancer:
      consistentHash:
        httpCookie: {name: session, path: /, ttl: 3600s}
`

// TestConsistentHash checks RING_HASH by header end to end: a key keeps its
// instance, and scaling from 4 to 3 replicas moves only the keys of the
// removed instance (about a quarter). A cookie hash sets the cookie.
func TestConsistentHash(t *testing.T) {
	m := startMesh(t, map[string]string{
		"sticky.yaml": sampleService("sticky", "http", 8080, 4),
		"cookie.yaml": sampleService("cookie", "http", 8081, 3),
		"rules.yaml":  stickyRules,
	})
	c := m.client("halyard-exec")
	key := func(i int) http.Header { return http.Header{"X-User": {fmt.Sprint("user-", i)}} }

	t.Run("same key, same instance", func(t *testing.T) {
		owner := map[int]string{}
		spread := map[string]int{}
		for n := range 200 {
			i := n % 20
			status, inst, _ := instanceGet(t, c, "http://sticky:8080/", key(i))
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			if owner[i] == "" {
				owner[i] = inst
				spread[inst]++
			} else if owner[i] != inst {
				t.Errorf("key %d went to %s, then %s", i, owner[i], inst)
			}
		}
		t.Logf("200 requests, 20 keys: every key on one instance; keys per instance %v", spread)
		if len(spread) < 2 {
			t.Errorf("all keys on %v", spread)
		}
	})

	t.Run("cookie is set and sticks", func(t *testing.T) {
		status, first, resp := instanceGet(t, c, "http://cookie:8081/", nil)
		var session *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == "session" {
				session = ck
			}
		}
		if status != 200 || session == nil {
			t.Fatalf("first request: %d, Set-Cookie %q", status, resp.Header.Values("Set-Cookie"))
		}
		t.Logf("Set-Cookie: %s", resp.Header.Get("Set-Cookie"))
		if session.Path != "/" || session.MaxAge != 3600 && session.Expires.IsZero() {
			t.Errorf("cookie attributes: %+v", session)
		}
		h := http.Header{"Cookie": {session.Name + "=" + session.Value}}
		insts := map[string]int{}
		for range 30 {
			status, inst, resp := instanceGet(t, c, "http://cookie:8081/", h)
			if status != 200 || resp.Header.Get("Set-Cookie") != "" {
				t.Fatalf("with the cookie: %d, Set-Cookie %q", status, resp.Header.Get("Set-Cookie"))
			}
			insts[inst]++
		}
		if len(insts) != 1 {
			t.Errorf("one cookie reached %v", insts)
		}
		t.Logf("30 requests with the cookie: %v (first answer from %s)", insts, first)
	})

	t.Run("scale 4 to 3 moves only the removed instance's keys", func(t *testing.T) {
		const keys = 100
		before := make([]string, keys)
		for i := range keys {
			_, before[i], _ = instanceGet(t, c, "http://sticky:8080/", key(i))
		}
		pods := m.podNames("sticky")
		m.write("sticky.yaml", sampleService("sticky", "http", 8080, 3))
		var gone string
		waitFor(t, 20*time.Second, func() bool {
			now := m.podNames("sticky")
			if len(now) != 3 {
				return false
			}
			for p := range pods {
				if !now[p] {
					gone = p
				}
			}
			return true
		})
		after := make([]string, keys)
		waitFor(t, 20*time.Second, func() bool {
			for i := range keys {
				status, inst, _ := instanceGet(t, c, "http://sticky:8080/", key(i))
				if status != 200 || inst == gone {
					return false
				}
				after[i] = inst
			}
			return true
		})
		moved, onGone, movedOthers := 0, 0, 0
		for i := range keys {
			if before[i] == gone {
				onGone++
			}
			if after[i] != before[i] {
				moved++
				if before[i] != gone {
					movedOthers++
				}
			}
		}
		t.Logf("removed %s: %d of %d keys moved (%d%%, ideal 25%%); %d keys were on it; %d keys of other instances moved",
			gone, moved, keys, 100*moved/keys, onGone, movedOthers)
		if movedOthers != 0 {
			t.Errorf("%d keys of instances that stayed moved", movedOthers)
		}
		if moved > keys*40/100 {
			t.Errorf("%d%% of keys moved, want about 25%%", 100*moved/keys)
		}
	})
}

const circuitBreakerRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: cb
spec:
  host: cb
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}
`

// TestCircuitBreaking is Istio's circuit-breaking task: one connection and
// one pending request allowed; clients with 2, then 3 concurrent
// connections. Requests beyond the limits are answered 503 at once (UO).
func TestCircuitBreaking(t *testing.T) {
	m := startMesh(t, map[string]string{"cb.yaml": sampleService("cb", "http", 8080, 1), "rules.yaml": circuitBreakerRule})
	p, _ := m.state.Pod("halyard-exec")
	share := map[int]float64{}
	for _, conc := range []int{2, 3} {
		var mu sync.Mutex
		counts := map[string]int{}
		var wg sync.WaitGroup
		for range conc {
			// One keep-alive connection per client, as fortio -c.
			tr := &http.Transport{Proxy: http.ProxyURL(mustURL("http://" + p.OutboundAddress)), MaxConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			wg.Go(func() {
				for range 30 {
					resp, err := cl.Get("http://cb:8080/get")
					kind := "error"
					if err == nil {
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						switch {
						case resp.StatusCode == 200:
							kind = "200"
						case resp.StatusCode == 503 && strings.Contains(string(b), "overflow"):
							kind = "503 UO"
						default:
							kind = fmt.Sprint(resp.StatusCode, " ", strings.TrimSpace(string(b)))
						}
					}
					mu.Lock()
					counts[kind]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		total := 30 * conc
		share[conc] = percent(counts["503 UO"], total)
		t.Logf("%d concurrent connections, %d requests: 200: %d (%.1f%%), 503 UO: %d (%.1f%%), other: %v",
			conc, total, counts["200"], percent(counts["200"], total), counts["503 UO"], share[conc], otherKinds(counts))
		if counts["200"]+counts["503 UO"] != total {
			t.Errorf("unexpected answers: %v", counts)
		}
		if counts["200"] == 0 {
			t.Errorf("no request passed with %d connections", conc)
		}
	}
	if share[3] == 0 || share[3] < share[2] {
		t.Errorf("overflow share with 3 connections %.1f%%, with 2 %.1f%%: want some overflow, growing with concurrency", share[3], share[2])
	}
}

func otherKinds(counts map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range counts {
		if k != "200" && k != "503 UO" {
			out[k] = v
		}
	}
	return out
}

func outlierRules(phase2 bool) string {
	extraRoute, connectTimeout := "", ""
	if phase2 {
		extraRoute = `  - match:
    - uri: {prefix: /phase2}
    directResponse: {status: 418}
`
		connectTimeout = "\n    connectionPool:\n      tcp: {connectTimeout: 5s}"
	}
	return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: od
spec:
  host: od
  trafficPolicy:
    outlierDetection:
      consecutive5xxErrors: 1
      interval: 1s
      baseEjectionTime: 30s
      maxEjectionPercent: 50` + connectTimeout + `
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: od
spec:
  hosts: [od]
  http:
` + extraRoute + `  - route:
    - destination: {host: od}
    retries: {attempts: 0}
`
}

// TestOutlierDetection runs 3 instances, one answering 503 to everything,
// without retries: after its first 503 it is ejected and the others answer
// everything; a configuration change (VirtualService and DestinationRule
// edits) keeps the ejection.
func TestOutlierDetection(t *testing.T) {
	m := startMesh(t, map[string]string{
		"od.yaml": `apiVersion: v1
kind: Service
metadata:
  name: od
spec:
  selector: {app: od}
  ports:
  - {name: http, port: 8080, targetPort: 8080}
---
` + sampleDeployment("od-good", "od", "v1", "http", 8080, 2) + "---\n" +
			sampleDeployment("od-bad", "od", "v2", "http", 8080, 1, "--status", "503"),
		"rules.yaml": outlierRules(false),
	})
	c := m.client("halyard-exec")
	run := func(n int) (ok int, failedBy map[string]int) {
		failedBy = map[string]int{}
		for range n {
			status, inst, _ := instanceGet(t, c, "http://od:8080/", nil)
			if status == 200 {
				ok++
			} else {
				failedBy[fmt.Sprint(status, " ", inst)]++
			}
		}
		return ok, failedBy
	}
	ok, failed := run(300)
	t.Logf("300 requests: %d OK (%.1f%%), failures %v (the bad instance's first 503 ejects it)", ok, percent(ok, 300), failed)
	if ok < 297 {
		t.Errorf("success %.1f%%, want >= 99%%", percent(ok, 300))
	}

	m.write("rules.yaml", outlierRules(true))
	waitFor(t, 10*time.Second, func() bool {
		status, _, _ := instanceGet(t, c, "http://od:8080/phase2", nil)
		return status == 418
	})
	ok, failed = run(300)
	t.Logf("after the VirtualService and DestinationRule edit, 300 requests: %d OK, failures %v (want none: the ejection is kept)", ok, failed)
	if ok != 300 {
		t.Errorf("the configuration change reset the ejection: %v", failed)
	}
}

// connectTunnel opens a CONNECT tunnel to target through an HTTP proxy.
func connectTunnel(t *testing.T, proxy, target string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", proxy, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	if resp.StatusCode != 200 {
		conn.Close()
		t.Fatalf("CONNECT %s: %s", target, resp.Status)
	}
	return conn, br
}

type tunnelConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *tunnelConn) Read(p []byte) (int, error) { return c.r.Read(p) }

const rawRules = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: raw
spec:
  host: raw
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: raw
spec:
  hosts: [raw]
  tcp:
  - route:
    - destination: {host: raw, subset: v1}
      weight: 70
    - destination: {host: raw, subset: v2}
      weight: 30
`

// TestTCPWeightedRoute sends 200 connections through CONNECT to an opaque
// TCP port with a 70/30 tcp route; each carries one HTTP request to the
// sample app, which says which version answered.
func TestTCPWeightedRoute(t *testing.T) {
	m := startMesh(t, map[string]string{
		"raw.yaml": `apiVersion: v1
kind: Service
metadata:
  name: raw
spec:
  selector: {app: raw}
  ports:
  - {name: tcp, port: 9000, targetPort: 9000}
---
` + sampleDeployment("raw-v1", "raw", "v1", "tcp", 9000, 1) + "---\n" + sampleDeployment("raw-v2", "raw", "v2", "tcp", 9000, 1),
		"rules.yaml": rawRules,
	})
	p, _ := m.state.Pod("halyard-exec")
	const n = 200
	counts := map[string]int{}
	for range n {
		conn, br := connectTunnel(t, p.OutboundAddress, "raw:9000")
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: raw:9000\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("HTTP through the tunnel: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		conn.Close()
		counts[resp.Header.Get("X-Sample-Version")]++
	}
	t.Logf("%d TCP connections, route 70/30: %v (v1 %.1f%%)", n, counts, percent(counts["v1"], n))
	if s := percent(counts["v1"], n); s < 58 || s > 82 || counts["v1"]+counts["v2"] != n {
		t.Errorf("v1 share %.1f%%, want 70%% +/- 12", s)
	}
}

// TestTLSPassthroughSNI routes TLS by SNI to two in-process TLS servers
// declared as STATIC ServiceEntries: the ClientHello is read inside the
// CONNECT tunnel, not consumed, and TLS is passed through end to end.
func TestTLSPassthroughSNI(t *testing.T) {
	serve := func(tag string) *httptest.Server {
		s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s", tag, r.TLS.ServerName)
		}))
		t.Cleanup(s.Close)
		return s
	}
	portOf := func(s *httptest.Server) int { return s.Listener.Addr().(*net.TCPAddr).Port }
	a, b := serve("server-a"), serve("server-b")
	se := func(name, host string, port int) string {
		return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: %s
spec:
  hosts: [%s]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - {name: tls, number: 8443, protocol: TLS}
  endpoints:
  - address: 127.0.0.1
    ports: {tls: %d}
`, name, host, port)
	}
	m := startMesh(t, map[string]string{
		"a.yaml": se("secure", "secure.example.test", portOf(a)),
		"b.yaml": se("other", "other.example.test", portOf(b)),
		"vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: secure
spec:
  hosts: [secure.example.test, api.secure.example.test]
  tls:
  - match:
    - sniHosts: [api.secure.example.test]
    route:
    - destination: {host: other.example.test}
  - match:
    - sniHosts: [secure.example.test]
    route:
    - destination: {host: secure.example.test}
`,
	})
	p, _ := m.state.Pod("halyard-exec")
	for _, tc := range []struct{ sni, want string }{
		{"secure.example.test", "server-a secure.example.test"},
		{"api.secure.example.test", "server-b api.secure.example.test"}, // the tls route
		{"other.example.test", "server-b other.example.test"},
		{"unknown.example.test", ""}, // no filter chain: closed
	} {
		conn, br := connectTunnel(t, p.OutboundAddress, "secure.example.test:8443")
		tc2 := tls.Client(&tunnelConn{Conn: conn, r: br}, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true})
		got := ""
		fmt.Fprintf(tc2, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", tc.sni)
		if resp, err := http.ReadResponse(bufio.NewReader(tc2), nil); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got = string(body)
		}
		conn.Close()
		t.Logf("SNI %s -> %q", tc.sni, got)
		if got != tc.want {
			t.Errorf("SNI %s: %q, want %q", tc.sni, got, tc.want)
		}
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
