package sample_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/halyard-mesh/halyard/internal/sample"
)

// recorder is a downstream that records the headers it receives.
type recorder struct {
	mu      sync.Mutex
	headers []http.Header
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.headers = append(rec.headers, r.Header.Clone())
	rec.mu.Unlock()
	_ = json.NewEncoder(w).Encode(sample.Reply{Service: "recorder", Version: "v0", Instance: "rec"})
}

func (rec *recorder) last(t *testing.T) http.Header {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.headers) == 0 {
		t.Fatal("recorder got no request")
	}
	return rec.headers[len(rec.headers)-1]
}

// client -> productpage -> reviews -> recorder, over real sockets, with the
// default downstream client (Options.Client nil).
func TestChainPropagatesHeaders(t *testing.T) {
	rec := &recorder{}
	ts := httptest.NewServer(rec)
	t.Cleanup(ts.Close)
	reviews := start(t, sample.Options{Service: "reviews", Version: "v2", Calls: []string{ts.URL + "/ratings"}})
	front := start(t, sample.Options{Service: "productpage", Version: "v1", Calls: []string{"http://" + reviews + "/reviews"}})

	propagated := http.Header{
		"X-Request-Id":      {"rid-42"},
		"Traceparent":       {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		"Tracestate":        {"vendor=x"},
		"X-B3-Traceid":      {"80f198ee56343ba864fe8b2a57d3eff7"},
		"X-B3-Spanid":       {"e457b5a2e4d86bd1"},
		"X-B3-Parentspanid": {"05e3ac9a4f6e3b90"},
		"X-B3-Sampled":      {"1"},
		"X-B3-Flags":        {"0"},
		"B3":                {"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"},
		"X-Ot-Span-Context": {"abc;def"},
		"End-User":          {"jason"},
	}
	hdr := propagated.Clone()
	hdr.Set("User-Agent", "chain-test")
	hdr.Set("X-Private", "secret")

	r, status := fetch(t, http1Client(t), "http://"+front+"/productpage", hdr)
	if status != http.StatusOK {
		t.Fatalf("status %d, reply %+v", status, r)
	}
	got := rec.last(t)
	for k, want := range propagated {
		if g := got.Values(k); strings.Join(g, ",") != want[0] {
			t.Errorf("downstream header %s = %q, want %q", k, g, want)
		}
	}
	if got.Get("X-Private") != "" || got.Get("User-Agent") == "chain-test" {
		t.Errorf("unlisted headers propagated: %v", got)
	}
	assertChain(t, r)
}

func assertChain(t *testing.T, r *sample.Reply) {
	t.Helper()
	if r.Service != "productpage" || len(r.Calls) != 1 {
		t.Fatalf("front reply = %+v", r)
	}
	c := r.Calls[0]
	if c.Status != 200 || c.Service != "reviews" || c.Version != "v2" || c.Error != "" || len(c.Calls) != 1 {
		t.Fatalf("reviews call = %+v", c)
	}
	if cc := c.Calls[0]; cc.Service != "recorder" || cc.Status != 200 || cc.Error != "" {
		t.Errorf("recorder call = %+v", cc)
	}
}

func TestDownstreamFailure(t *testing.T) {
	ratings := start(t, sample.Options{Service: "ratings"})
	dead := "http://" + closedAddr(t) + "/"
	failing := "http://" + ratings + "/?status=503"
	front := start(t, sample.Options{Service: "reviews", Calls: []string{dead, failing, "http://" + ratings + "/"}})
	c := http1Client(t)

	r, status := fetch(t, c, "http://"+front+"/", nil)
	if status != http.StatusOK || len(r.Calls) != 3 {
		t.Fatalf("status %d, reply %+v; want 200 with 3 calls", status, r)
	}
	if dc := r.Calls[0]; dc.Error == "" || dc.Status != 0 || dc.URL != dead {
		t.Errorf("dead call = %+v, want an error", dc)
	}
	if fc := r.Calls[1]; fc.Status != 503 || fc.Service != "ratings" || !strings.Contains(fc.Error, "503") {
		t.Errorf("failing call = %+v, want 503 from ratings with an error", fc)
	}
	if ok := r.Calls[2]; ok.Status != 200 || ok.Error != "" || ok.Service != "ratings" {
		t.Errorf("good call = %+v", ok)
	}

	r, status = fetch(t, c, "http://"+front+"/?strict=1", nil)
	if status != http.StatusBadGateway || len(r.Calls) != 3 {
		t.Errorf("strict: status %d, reply %+v; want 502 with the calls", status, r)
	}
}

// A downstream that is not a sample is a failed call.
func TestDownstreamNotJSON(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html>"))
	}))
	t.Cleanup(ts.Close)
	front := start(t, sample.Options{Calls: []string{ts.URL}})
	r, status := fetch(t, http1Client(t), "http://"+front+"/", nil)
	if status != http.StatusOK || len(r.Calls) != 1 || r.Calls[0].Status != 200 || r.Calls[0].Error == "" {
		t.Errorf("status %d, reply %+v; want 200 with a failed call", status, r)
	}
}
