package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/podnet"
)

// authzPolicies are the AuthorizationPolicies of TestAuthorization;
// detailsNS is the namespace details accepts callers from.
func authzPolicies(detailsNS string, denyEcho bool) string {
	s := `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ratings-deny-admin
spec:
  selector:
    matchLabels: {app: ratings}
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/admin*"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ratings-deny-remote
spec:
  selector:
    matchLabels: {app: ratings}
  action: DENY
  rules:
  - from:
    - source:
        remoteIpBlocks: ["192.0.2.0/24"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: reviews-from-productpage
spec:
  selector:
    matchLabels: {app: reviews}
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: details-by-namespace
spec:
  selector:
    matchLabels: {app: details}
  rules:
  - from:
    - source:
        namespaces: ["` + detailsNS + `"]
`
	if denyEcho {
		s += `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: echo-deny-port
spec:
  selector:
    matchLabels: {app: tcp-echo}
  action: DENY
  rules:
  - to:
    - operation:
        ports: ["9000"]
`
	}
	return s
}

// TestAuthorization enforces Istio's AuthorizationPolicy in the sidecars
// of Bookinfo and a TCP echo service: a DENY on a path, a DENY by
// remoteIpBlocks (the client in X-Forwarded-For), an ALLOW by the
// caller's service account, an ALLOW by namespace, a DENY of a TCP port,
// and a policy change applied by a config reload.
func TestAuthorization(t *testing.T) {
	files := bookinfo()
	files["tcp-echo.yaml"] = echoYAML("tcp-echo", 9000, "")
	files["authz.yaml"] = authzPolicies("default", false)
	m := startMesh(t, files)
	c := m.client("halyard-exec")
	const n = 20

	t.Run("DENY on a path answers 403 RBAC: access denied", func(t *testing.T) {
		denied, ok := 0, 0
		for range n {
			if code, body := status(t, c, "http://ratings:9080/admin/users"); code == 403 && body == "RBAC: access denied" {
				denied++
			}
			if code, _ := status(t, c, "http://ratings:9080/ratings/0"); code == 200 {
				ok++
			}
		}
		if denied != n || ok != n {
			t.Fatalf("/admin/users denied %d of %d, /ratings/0 allowed %d of %d", denied, n, ok, n)
		}
		p, _ := m.state.Pod(firstPod(t, m, "ratings-v1"))
		samples := scrape(t, p.AdminAddress)
		got := sum(samples, "istio_requests_total", map[string]string{
			"reporter": "destination", "source_workload": "halyard-exec", "response_code": "403", "response_flags": "RBAC"})
		if got != n {
			for _, s := range samples {
				if s.name == "istio_requests_total" && s.labels["response_code"] == "403" {
					t.Logf("%+v", s)
				}
			}
			t.Errorf("ratings' sidecar counted %v requests denied with flag RBAC, want %d", got, n)
		}
	})

	t.Run("DENY by remoteIpBlocks: the last X-Forwarded-For address", func(t *testing.T) {
		codes := map[string]map[int]int{}
		for _, xff := range []string{"192.0.2.7", "198.51.100.9, 192.0.2.7", "192.0.2.7, 198.51.100.9"} {
			codes[xff] = map[int]int{}
			for range n {
				code, _, _, err := get(c, "http://ratings:9080/ratings/0", http.Header{"X-Forwarded-For": {xff}})
				if err != nil {
					t.Fatal(err)
				}
				codes[xff][code]++
			}
		}
		if codes["192.0.2.7"][403] != n || codes["198.51.100.9, 192.0.2.7"][403] != n || codes["192.0.2.7, 198.51.100.9"][200] != n {
			t.Errorf("status codes by X-Forwarded-For: %v; want the two ending in 192.0.2.7 denied, the other allowed", codes)
		}
	})

	t.Run("ALLOW by source principal", func(t *testing.T) {
		denied := 0
		for range n {
			if code, body := status(t, c, "http://reviews:9080/"); code == 403 && body == "RBAC: access denied" {
				denied++
			}
		}
		if denied != n {
			t.Errorf("halyard-exec (sa default) to reviews: %d of %d denied, want all", denied, n)
		}
		if got := productpageCalls(t, c, n); got["reviews"] != n*200 || got["details"] != n*200 {
			t.Errorf("productpage's calls: %v, want reviews and details %d times 200", got, n)
		}
	})

	t.Run("namespace allow and a reload", func(t *testing.T) {
		if code, _ := status(t, c, "http://details:9080/"); code != 200 {
			t.Fatalf("details from namespace default: %d, want 200", code)
		}
		sendTCP(t, m, "tcp-echo:9000", 3)
		m.write("authz.yaml", authzPolicies("other", true))
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, _ := status(t, c, "http://details:9080/")
			if code == 403 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("details still answers %d 15s after the policy changed", code)
			}
			time.Sleep(50 * time.Millisecond)
		}
		denied := 0
		for range n {
			if code, _ := status(t, c, "http://details:9080/"); code == 403 {
				denied++
			}
		}
		if denied != n {
			t.Errorf("after the reload details denied %d of %d requests from namespace default", denied, n)
		}
		if got := productpageCalls(t, c, n); got["reviews"] != n*200 || got["details"] != n*403 {
			t.Errorf("productpage's calls after the reload: %v, want reviews %d×200, details %d×403", got, n, n)
		}
	})

	t.Run("TCP port denied", func(t *testing.T) {
		refused := 0
		for range n {
			if !echoOnce(t, m, "tcp-echo:9000") {
				refused++
			}
		}
		if refused != n {
			t.Errorf("%d of %d connections to tcp-echo:9000 refused, want all", refused, n)
		}
		p, _ := m.state.Pod(firstPod(t, m, "tcp-echo"))
		got := sum(scrape(t, p.AdminAddress), "istio_tcp_connections_opened_total", map[string]string{
			"reporter": "destination", "response_flags": "RBAC"})
		if got != n {
			t.Errorf("tcp-echo's sidecar counted %v connections denied with flag RBAC, want %d", got, n)
		}
	})
}

// status sends a GET and returns the status and body.
func status(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// productpageCalls asks productpage n times and sums the statuses of its
// calls per service (so n successful calls to reviews give reviews: 200n).
func productpageCalls(t *testing.T, c *http.Client, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for range n {
		code, body := status(t, c, "http://productpage:9080/")
		if code != 200 {
			t.Fatalf("productpage: %d %s", code, body)
		}
		var r reply
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("productpage reply %q: %v", body, err)
		}
		for _, call := range r.Calls {
			name := strings.TrimSuffix(strings.TrimPrefix(call.URL, "http://"), ":9080/")
			out[name] += call.Status
		}
	}
	return out
}

// echoOnce opens a connection to target through the exec pod's sidecar
// and reports whether the echo server greeted it.
func echoOnce(t *testing.T, m *mesh, target string) bool {
	t.Helper()
	p, _ := m.state.Pod("halyard-exec")
	conn, br := connectTunnel(t, p.OutboundAddress, target)
	defer conn.Close()
	_, err := br.ReadString('\n')
	return err == nil
}

// TestAuthorizationTransparent: in transparent mode the sidecar matches
// the captured connection's original destination port, for HTTP (an
// ALLOW of port 9080 except /admin) and TCP (a DENY of port 9000).
func TestAuthorizationTransparent(t *testing.T) {
	m, _ := startTransparent(t, map[string]string{
		"reviews.yaml": reviewsTransparent,
		"echo.yaml":    echoYAML("echo", 9000, ""),
		"authz.yaml": `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: reviews-port
spec:
  selector:
    matchLabels: {app: reviews}
  rules:
  - from:
    - source:
        namespaces: ["default"]
    to:
    - operation:
        ports: ["9080"]
        notPaths: ["/admin*"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: echo-closed
spec:
  selector:
    matchLabels: {app: echo}
  action: DENY
  rules:
  - to:
    - operation:
        ports: ["9000"]
`,
	})
	const n = 20
	out, err := m.inPod("", fmt.Sprintf(`for i in $(seq %d); do curl -s -m 5 -o /dev/null -w '%%{http_code}\n' http://reviews:9080/; curl -s -m 5 -o /dev/null -w 'admin %%{http_code}\n' http://reviews:9080/admin/x; done`, n))
	if err != nil {
		t.Fatalf("halyard exec: %v\n%s", err, out)
	}
	counts := map[string]int{}
	for line := range strings.Lines(out) {
		counts[strings.TrimSpace(line)]++
	}
	if counts["200"] != n || counts["admin 403"] != n {
		t.Errorf("curl from a pod: %v, want %d × 200 and %d × admin 403", counts, n, n)
	}
	client, _ := m.state.Pod("default/halyard-exec")
	ip := hostsLookup(t, client.HostsFile, "echo")
	refused := 0
	for range n {
		var c net.Conn
		if err := podnet.InNetns(client.Netns, func() (err error) {
			c, err = net.DialTimeout("tcp", net.JoinHostPort(ip, "9000"), 5*time.Second)
			return err
		}); err != nil {
			refused++ // the client sidecar may already see the close
			continue
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			refused++
		}
		c.Close()
	}
	if refused != n {
		t.Errorf("%d of %d connections to echo:9000 refused, want all", refused, n)
	}
	server, _ := m.state.Pod("echo")
	if got := sum(scrape(t, server.AdminAddress), "istio_tcp_connections_opened_total", map[string]string{
		"reporter": "destination", "response_flags": "RBAC"}); got != n {
		t.Errorf("echo's sidecar counted %v connections denied with flag RBAC, want %d", got, n)
	}
}
