package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// taggedServer answers every request with its tag.
func taggedServer(t *testing.T, tag string) int {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, tag)
	}))
	t.Cleanup(s.Close)
	return s.Listener.Addr().(*net.TCPAddr).Port
}

// TestServiceEntryResolution: ServiceEntries with Istio's resolutions
// other than STATIC, reached through the sidecar as an application would.
//   - DNS with host-name endpoints: the sidecar resolves "localhost" for
//     a host that is in no DNS (api.external.test), and subsets pick
//     endpoints by their labels.
//   - DNS_ROUND_ROBIN: one logical endpoint.
//   - Endpoint weights 1 and 3 split requests 25/75.
//   - DNS with TLS origination (Istio's egress TLS origination task): the
//     application sends plain HTTP, the sidecar resolves the endpoint and
//     speaks TLS to it with the DestinationRule's SNI and CA.
//   - NONE: the request goes where the application sent it, through the
//     entry's own cluster (the metrics name the entry's host).
//   - A Kubernetes Service of type ExternalName: its externalName is
//     resolved, on the Service's port.
func TestServiceEntryResolution(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := makeCACert(t, "origin ca", 21, nil, nil)
	caFile, _ := writePEM(t, dir, "ca", tls.Certificate{Certificate: [][]byte{ca.Raw}})
	origin := startOriginServer(t, ca, caKey, nil, "api.example.test")
	pa, pb, pn := taggedServer(t, "server-a"), taggedServer(t, "server-b"), taggedServer(t, "server-none")

	m := startMesh(t, map[string]string{
		"dns.yaml": fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: api
spec:
  hosts: [api.external.test]
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
  - {name: http, number: 80, protocol: HTTP}
  endpoints:
  - address: localhost
    labels: {server: a}
    ports: {http: %d}
  - address: localhost
    labels: {server: b}
    ports: {http: %d}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: api
spec:
  host: api.external.test
  subsets:
  - {name: a, labels: {server: a}}
  - {name: b, labels: {server: b}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: api
spec:
  hosts: [api.external.test]
  http:
  - match:
    - headers: {x-server: {exact: b}}
    route:
    - destination: {host: api.external.test, subset: b}
  - route:
    - destination: {host: api.external.test, subset: a}
`, pa, pb),
		"rr.yaml": fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: rr
spec:
  hosts: [rr.external.test]
  location: MESH_EXTERNAL
  resolution: DNS_ROUND_ROBIN
  ports:
  - {name: http, number: 80, protocol: HTTP}
  endpoints:
  - address: localhost
    ports: {http: %d}
`, pb),
		"tls.yaml": fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: secure
spec:
  hosts: [secure.external.test]
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
  - {name: http, number: 80, protocol: HTTP}
  endpoints:
  - address: localhost
    ports: {http: %d}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: secure
spec:
  host: secure.external.test
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: %s, sni: api.example.test}
`, origin.port(), caFile),
		"weighted.yaml": fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: weighted
spec:
  hosts: [weighted.external.test]
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
  - {name: http, number: 80, protocol: HTTP}
  endpoints:
  - {address: localhost, ports: {http: %d}, weight: 1}
  - {address: localhost, ports: {http: %d}, weight: 3}
`, pa, pb),
		// Istio's "Kubernetes Services for Egress Traffic" task.
		"externalname.yaml": fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: my-external
spec:
  type: ExternalName
  externalName: localhost
  ports:
  - {name: http, port: %d}
`, pa),
		"none.yaml": fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: none
spec:
  hosts: [localhost]
  location: MESH_EXTERNAL
  resolution: NONE
  ports:
  - {name: http, number: %d, protocol: HTTP}
`, pn),
	})
	c := m.client("halyard-exec")

	const n = 20
	cases := []struct {
		name, url string
		header    http.Header
		want      string
	}{
		{"DNS subset a", "http://api.external.test/", nil, "server-a"},
		{"DNS subset b", "http://api.external.test/", http.Header{"X-Server": {"b"}}, "server-b"},
		{"DNS_ROUND_ROBIN", "http://rr.external.test/", nil, "server-b"},
		{"DNS with TLS origination", "http://secure.external.test/", nil, "tls api.example.test"},
		{"NONE", fmt.Sprintf("http://localhost:%d/", pn), nil, "server-none"},
		{"ExternalName Service", fmt.Sprintf("http://my-external:%d/", pa), nil, "server-a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i := range n {
				req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
				for k, v := range tc.header {
					req.Header[k] = v
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				body := string(b)
				if resp.StatusCode != http.StatusOK || body != tc.want {
					t.Fatalf("request %d: %d %q, want 200 %q", i, resp.StatusCode, body, tc.want)
				}
			}
		})
	}
	// Endpoint weights 1 and 3: weighted round robin gives 25% and 75%.
	t.Run("endpoint weights", func(t *testing.T) {
		const total = 400
		counts := map[string]int{}
		for i := range total {
			status, _, body, err := get(c, "http://weighted.external.test/", nil)
			if err != nil || status != http.StatusOK {
				t.Fatalf("request %d: %d %v", i, status, err)
			}
			counts[string(body)]++
		}
		share := percent(counts["server-b"], total)
		t.Logf("weights 1:3 over %d requests: %v (server-b %.1f%%, want 75%% +/- 5)", total, counts, share)
		if share < 70 || share > 80 {
			t.Errorf("server-b share %.1f%%, want 75%% +/- 5", share)
		}
	})
	if requests, _, sni := origin.seen(); requests != n || sni["api.example.test"] != n {
		t.Errorf("origin server: %d requests, SNI %v; want %d with api.example.test", requests, sni, n)
	}

	// The client sidecar reports them under the entries' hosts (traffic
	// that matched no entry would be PassthroughCluster's).
	p, _ := m.state.Pod("halyard-exec")
	samples := scrape(t, p.AdminAddress)
	for host, want := range map[string]float64{"api.external.test": 2 * n, "rr.external.test": n, "secure.external.test": n, "localhost": n,
		"my-external.default.svc.cluster.local": n} {
		labels := map[string]string{"reporter": "source", "destination_service": host, "response_code": "200"}
		if got := sum(samples, "istio_requests_total", labels); got != want {
			t.Errorf("istio_requests_total%v = %v, want %v", labels, got, want)
		}
	}
}

// TestExplicitOutboundTrafficPolicy: in explicit mode, a destination on a
// port no service uses follows the outbound traffic policy, as a captured
// connection would. Under ALLOW_ANY (Istio's default) plain HTTP and
// HTTPS (CONNECT) reach servers the mesh does not know, 20 of 20; once the
// mesh config says REGISTRY_ONLY they are refused (503, BlackHoleCluster
// has no endpoints), 20 of 20.
func TestExplicitOutboundTrafficPolicy(t *testing.T) {
	plain := taggedServer(t, "outside")
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "outside tls") }))
	t.Cleanup(secure.Close)
	securePort := secure.Listener.Addr().(*net.TCPAddr).Port

	m := startMesh(t, map[string]string{"echo.yaml": sampleService("echo", "http", 9080, 1)})
	p, _ := m.state.Pod("halyard-exec")
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy:           http.ProxyURL(&url.URL{Scheme: "http", Host: p.OutboundAddress}),
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		// A CONNECT per request: an open tunnel outlives a config change.
		DisableKeepAlives: true,
	}}
	plainURL, secureURL := fmt.Sprintf("http://localhost:%d/", plain), fmt.Sprintf("https://localhost:%d/", securePort)
	send := func(u string) (int, string) {
		status, _, body, err := get(c, u, nil)
		if err != nil {
			return 0, err.Error()
		}
		return status, string(body)
	}
	const n = 20
	for _, tc := range []struct{ url, want string }{{plainURL, "outside"}, {secureURL, "outside tls"}} {
		for i := range n {
			if status, body := send(tc.url); status != http.StatusOK || body != tc.want {
				t.Fatalf("ALLOW_ANY: %s request %d: %d %q, want 200 %q", tc.url, i, status, body, tc.want)
			}
		}
	}

	m.write("mesh.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |
    outboundTrafficPolicy: {mode: REGISTRY_ONLY}
`)
	waitFor(t, 15*time.Second, func() bool { status, _ := send(plainURL); return status == http.StatusServiceUnavailable })
	for _, u := range []string{plainURL, secureURL} {
		refused := 0
		for range n {
			// CONNECT refused: the client reports the proxy's status.
			if status, body := send(u); status == http.StatusServiceUnavailable || strings.Contains(body, "Service Unavailable") {
				refused++
			}
		}
		if refused != n {
			t.Errorf("REGISTRY_ONLY: %s refused %d of %d times", u, refused, n)
		}
	}
	if status, _ := send("http://echo:9080/"); status != http.StatusOK {
		t.Errorf("REGISTRY_ONLY: a mesh service: %d", status)
	}
}

// TestServiceEntryWorkloadSelector: a MESH_INTERNAL ServiceEntry whose
// workloadSelector picks the echo pods has them as endpoints (reached
// through their sidecars), at its port's targetPort: 40 requests reach
// both pods, counted under the entry's host.
func TestServiceEntryWorkloadSelector(t *testing.T) {
	m := startMesh(t, map[string]string{
		"echo.yaml": sampleService("echo", "http", 9080, 2),
		"se.yaml": `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: echo-internal
spec:
  hosts: [echo.internal.test]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {name: http, number: 80, protocol: HTTP, targetPort: 9080}
  workloadSelector:
    labels: {app: echo}
`,
	})
	c := m.client("halyard-exec")
	instances := map[string]int{}
	const n = 40
	for i := range n {
		status, _, body, err := get(c, "http://echo.internal.test/", nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("request %d: %d %v %s", i, status, err, body)
		}
		var r reply
		mustJSON(t, body, &r)
		if r.Service != "echo" {
			t.Fatalf("request %d reached %q", i, r.Service)
		}
		instances[r.Instance]++
	}
	t.Logf("echo.internal.test over %d requests: %v", n, instances)
	if len(instances) != 2 {
		t.Errorf("requests reached %d echo pods, want both: %v", len(instances), instances)
	}
	p, _ := m.state.Pod("halyard-exec")
	labels := map[string]string{"reporter": "source", "destination_service": "echo.internal.test", "response_code": "200"}
	if got := sum(scrape(t, p.AdminAddress), "istio_requests_total", labels); got != n {
		t.Errorf("istio_requests_total%v = %v, want %d", labels, got, n)
	}
}

// TestWorkloadEntry: a process outside the mesh's pods, declared as a
// WorkloadEntry, is an endpoint of the Service whose selector matches its
// labels, next to the Service's pods: requests to the Service reach both.
func TestWorkloadEntry(t *testing.T) {
	vm := taggedServer(t, "vm")
	m := startMesh(t, map[string]string{
		"echo.yaml": sampleService("echo", "http", 9080, 1),
		"we.yaml": fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: vm-1
spec:
  address: 127.0.0.1
  labels: {app: echo}
  ports: {http: %d}
`, vm),
	})
	c := m.client("halyard-exec")
	counts := map[string]int{}
	const n = 40
	for i := range n {
		status, _, body, err := get(c, "http://echo:9080/", nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("request %d: %d %v %s", i, status, err, body)
		}
		if string(body) == "vm" {
			counts["vm"]++
		} else {
			counts["pod"]++
		}
	}
	t.Logf("echo over %d requests: %v", n, counts)
	if counts["vm"] != n/2 || counts["pod"] != n/2 {
		t.Errorf("round robin over the pod and the WorkloadEntry: %v, want %d each", counts, n/2)
	}
}
