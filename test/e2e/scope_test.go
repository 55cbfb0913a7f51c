package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSidecarEgressAndExportTo: what a proxy is configured for follows
// Istio's scoping.
//   - A Service annotated networking.istio.io/exportTo: "." in namespace
//     team is not routed by proxies of default (404, no route), while
//     team's other service is.
//   - A Sidecar for namespace default listing one egress host, applied to
//     a running mesh, leaves default's proxies only that service and the
//     destination of its VirtualService: the others become 404, 20 of 20.
func TestSidecarEgressAndExportTo(t *testing.T) {
	team := func(yaml string) string {
		return strings.ReplaceAll(yaml, "metadata:\n  name:", "metadata:\n  namespace: team\n  name:")
	}
	private := strings.Replace(team(sampleService("private", "http", 9080, 1)),
		"metadata:\n  namespace: team\n  name: private\nspec:\n  selector",
		"metadata:\n  namespace: team\n  name: private\n  annotations: {networking.istio.io/exportTo: \".\"}\nspec:\n  selector", 1)
	if !strings.Contains(private, "exportTo") {
		t.Fatal("fixture: no annotation")
	}
	m := startMesh(t, map[string]string{
		"ns.yaml":      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n",
		"a.yaml":       sampleService("echo-a", "http", 9080, 1),
		"b.yaml":       sampleService("echo-b", "http", 9080, 1),
		"c.yaml":       sampleService("echo-c", "http", 9080, 1),
		"public.yaml":  team(sampleService("public", "http", 9080, 1)),
		"private.yaml": private,
		// echo-a's VirtualService sends /c to echo-c: in scope through it.
		"vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: echo-a
spec:
  hosts: [echo-a]
  http:
  - match: [{uri: {prefix: /c}}]
    route: [{destination: {host: echo-c}}]
  - route: [{destination: {host: echo-a}}]
`,
	})
	c := m.client("halyard-exec")
	statuses := func(url string, n int) map[int]int {
		out := map[int]int{}
		for range n {
			status, _, _, err := get(c, url, nil)
			if err != nil {
				t.Fatalf("%s: %v", url, err)
			}
			out[status]++
		}
		return out
	}
	expect := func(url string, status int) {
		t.Helper()
		if got := statuses(url, 20); got[status] != 20 {
			t.Errorf("%s: statuses %v, want %d 20 times", url, got, status)
		}
	}

	expect("http://public.team:9080/", http.StatusOK)
	expect("http://private.team:9080/", http.StatusNotFound)
	for _, u := range []string{"http://echo-a:9080/", "http://echo-b:9080/", "http://echo-c:9080/"} {
		expect(u, http.StatusOK)
	}

	m.write("sidecar.yaml", `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: default
spec:
  egress:
  - hosts: ["./echo-a.default.svc.cluster.local"]
`)
	waitFor(t, 15*time.Second, func() bool { return statuses("http://echo-b:9080/", 1)[http.StatusNotFound] == 1 })
	expect("http://echo-a:9080/", http.StatusOK)
	// echo-c is in scope as the destination of echo-a's VirtualService,
	// so it is routed too, as in Istio.
	expect("http://echo-a:9080/c", http.StatusOK)
	expect("http://echo-c:9080/", http.StatusOK)
	for _, u := range []string{"http://echo-b:9080/", "http://public.team:9080/"} {
		expect(u, http.StatusNotFound)
	}
}
