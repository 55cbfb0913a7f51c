package sample_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/halyard-mesh/halyard/internal/sample"
)

// With Options.Client nil, downstream calls go through HTTP_PROXY, as read
// when Run starts: the mesh's explicit capture.
func TestDefaultClientUsesHTTPProxy(t *testing.T) {
	got := make(chan *http.Request, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r
		_ = json.NewEncoder(w).Encode(sample.Reply{Service: "ratings", Version: "v1", Instance: "proxied"})
	}))
	t.Cleanup(proxy.Close)
	for _, k := range []string{"HTTP_PROXY", "http_proxy"} {
		t.Setenv(k, proxy.URL)
	}
	for _, k := range []string{"NO_PROXY", "no_proxy", "REQUEST_METHOD"} {
		t.Setenv(k, "")
	}
	front := start(t, sample.Options{Service: "reviews", Calls: []string{"http://ratings:9080/ratings/0"}})

	r, status := fetch(t, http1Client(t), "http://"+front+"/", http.Header{"X-Request-Id": {"via-proxy"}})
	if status != http.StatusOK || len(r.Calls) != 1 || r.Calls[0].Instance != "proxied" || r.Calls[0].Error != "" {
		t.Fatalf("status %d, reply %+v; want the call answered by the proxy", status, r)
	}
	req := <-got
	if req.Host != "ratings:9080" || req.RequestURI != "http://ratings:9080/ratings/0" {
		t.Errorf("proxy got Host %q, RequestURI %q; want an absolute-form request for ratings:9080", req.Host, req.RequestURI)
	}
	if req.Header.Get("X-Request-Id") != "via-proxy" {
		t.Errorf("proxy got X-Request-Id %q", req.Header.Get("X-Request-Id"))
	}
}
