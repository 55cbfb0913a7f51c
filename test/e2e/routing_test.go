package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func bookinfo() map[string]string {
	return map[string]string{
		"namespace.yaml":  "@examples/bookinfo/namespace.yaml",
		"bookinfo.yaml":   "@examples/bookinfo/bookinfo.yaml",
		"networking.yaml": "@examples/bookinfo/networking.yaml",
	}
}

// TestBookinfoRouting runs the demo and checks Istio's request-routing and
// traffic-shifting outcomes on it.
func TestBookinfoRouting(t *testing.T) {
	m := startMesh(t, bookinfo())
	c := m.client("halyard-exec")

	t.Run("canary split 95/5", func(t *testing.T) {
		const n = 2000
		counts := countVersions(t, c, "http://reviews:9080/", nil, n)
		share := percent(counts["v3"], n)
		// The share of 2000 random picks at 5% has a standard deviation
		// of 0.49 points: 3-7% is four of them either side.
		t.Logf("reviews over %d requests: v1 %d, v2 %d, v3 %d (canary v3: %.2f%%, want 3-7%%)", n, counts["v1"], counts["v2"], counts["v3"], share)
		if share < 3 || share > 7 {
			t.Errorf("canary share %.2f%% outside 3-7%%", share)
		}
		if counts["v2"] != 0 {
			t.Errorf("%d requests without end-user: jason reached v2", counts["v2"])
		}
	})

	t.Run("end-user jason always reaches v2", func(t *testing.T) {
		const n = 500
		counts := countVersions(t, c, "http://reviews:9080/", http.Header{"End-User": {"jason"}}, n)
		t.Logf("end-user: jason over %d requests: %v", n, counts)
		if counts["v2"] != n {
			t.Errorf("only %d of %d jason requests reached v2: %v", counts["v2"], n, counts)
		}
		other := countVersions(t, c, "http://reviews:9080/", http.Header{"End-User": {"json"}}, n)
		t.Logf("end-user: json over %d requests: %v", n, other)
		if other["v2"] != 0 {
			t.Errorf("%d requests of another user reached v2", other["v2"])
		}
	})

	t.Run("names resolve with and without namespace and port", func(t *testing.T) {
		for _, u := range []string{"http://ratings:9080/", "http://ratings.default:9080/", "http://ratings.default.svc.cluster.local:9080/"} {
			status, version, body, err := get(c, u, nil)
			if err != nil || status != 200 || version != "v1" {
				t.Errorf("%s: status %d version %q err %v body %s", u, status, version, err, body)
			}
		}
	})

	t.Run("unknown host is 404, unknown port is passed through", func(t *testing.T) {
		status, _, body, err := get(c, "http://nosuchservice:9080/", nil)
		if err != nil || status != http.StatusNotFound {
			t.Errorf("unknown host on a mesh port: status %d (want 404), err %v, body %s", status, err, body)
		}
		// No listener on 9999: PassthroughCluster (ALLOW_ANY) to
		// reviews:9999, a name only the mesh knows: a connect failure.
		status, _, body, err = get(c, "http://reviews:9999/", nil)
		if err != nil || status != http.StatusServiceUnavailable || !strings.Contains(string(body), "connection failure") {
			t.Errorf("unknown port: status %d (want 503, connection failure), err %v, body %s", status, err, body)
		}
	})

	t.Run("productpage calls details and reviews through sidecars via halyard exec", func(t *testing.T) {
		out, err := m.halyard(context.Background(), "exec", "--", "curl", "-s", "-H", "end-user: jason", "-H", "x-request-id: e2e-trace-1", "http://productpage:9080/")
		if err != nil {
			t.Fatalf("halyard exec curl: %v\n%s", err, out)
		}
		var r reply
		mustJSON(t, []byte(out), &r)
		if r.Service != "productpage" || len(r.Calls) != 2 {
			t.Fatalf("unexpected productpage reply: %s", out)
		}
		for _, call := range r.Calls {
			if call.Status != 200 || call.Error != "" {
				t.Errorf("downstream call %s: status %d error %q", call.URL, call.Status, call.Error)
			}
		}
		if r.Calls[1].Service != "reviews" || r.Calls[1].Version != "v2" {
			t.Errorf("productpage's reviews call for jason reached %s %s, want reviews v2 (end-user propagated)", r.Calls[1].Service, r.Calls[1].Version)
		}
		if !strings.Contains(out, "e2e-trace-1") {
			t.Errorf("x-request-id not echoed: %s", out)
		}
	})

	t.Run("exec --as uses that workload's sidecar and namespace", func(t *testing.T) {
		out, err := m.halyard(context.Background(), "exec", "--as", "productpage-v1", "--", "curl", "-s", "-H", "end-user: jason", "http://reviews:9080/")
		if err != nil {
			t.Fatalf("halyard exec --as: %v\n%s", err, out)
		}
		var r reply
		mustJSON(t, []byte(out), &r)
		if r.Service != "reviews" || r.Version != "v2" {
			t.Errorf("reached %s %s, want reviews v2", r.Service, r.Version)
		}
		if out, err := m.halyard(context.Background(), "exec", "--as", "nosuch", "--", "true"); err == nil || !strings.Contains(out, `no pod "nosuch"`) {
			t.Errorf("exec --as nosuch: err %v, output %s", err, out)
		}
	})

	t.Run("version", func(t *testing.T) {
		out, err := m.halyard(context.Background(), "version")
		if err != nil || !strings.HasPrefix(out, "halyard ") {
			t.Errorf("halyard version: %v %q", err, out)
		}
	})
}
