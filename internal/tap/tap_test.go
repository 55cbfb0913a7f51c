package tap

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTap serves /debug/tap: n inbound and one outbound event per
// connection, then holds the stream open until the client leaves. It
// records the query of every connection.
func fakeTap(t *testing.T, pod string, n int) (addr string, queries func() []string) {
	var mu sync.Mutex
	var qs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/tap" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		qs = append(qs, r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		for i := range n {
			enc.Encode(Event{Time: "2026-11-23T02:00:00.123456Z", Direction: "inbound", Protocol: "http", Method: "GET",
				Path: fmt.Sprintf("/reviews/%d", i), Status: 200, DurationMs: 1.5, Flags: "-",
				SourceWorkload: "productpage-v1", SourceNamespace: "default",
				DestinationService: "reviews.default.svc.cluster.local", DestinationWorkload: pod, UpstreamHost: "127.0.0.1:9080"})
			w.(http.Flusher).Flush()
		}
		enc.Encode(Event{Direction: "outbound", Path: "/ratings/0", Status: 200})
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), qs...)
	}
}

func TestFollowMergesInboundEventsOfEverySidecar(t *testing.T) {
	a, qa := fakeTap(t, "reviews-v1", 3)
	b, _ := fakeTap(t, "reviews-v2", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	perPod := map[string]int{}
	var lines []string
	Follow(ctx, []Sidecar{{Name: "default/reviews-v1-0", Address: a}, {Name: "default/reviews-v2-0", Address: b}},
		Options{Filter: Filter{Method: "GET", Path: "/reviews", Direction: "inbound"}},
		func(r Received) {
			perPod[r.Event.DestinationWorkload]++
			lines = append(lines, Format(r.Event))
			if len(lines) == 5 {
				cancel()
			}
		})
	if perPod["reviews-v1"] != 3 || perPod["reviews-v2"] != 2 || len(lines) != 5 {
		t.Fatalf("events per pod: %v (%d lines), want 3 and 2 inbound only", perPod, len(lines))
	}
	want := "02:00:00.123 http GET /reviews/0 200 1.5ms - productpage-v1.default -> reviews.default.svc.cluster.local (reviews-v1 127.0.0.1:9080)"
	found := false
	for _, l := range lines {
		found = found || l == want
	}
	if !found {
		t.Errorf("no line %q in:\n%s", want, strings.Join(lines, "\n"))
	}
	if q := qa(); len(q) != 1 || q[0] != "method=GET&path=%2Freviews" {
		t.Errorf("queries sent: %q, want the method and path filters", q)
	}
}

func TestFollowReconnectsAndReportsErrors(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns++
		n := conns
		mu.Unlock()
		if n == 1 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(Event{Direction: "inbound", Path: "/after-reconnect", Status: 503})
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []string
	var got []Event
	Follow(ctx, []Sidecar{{Name: "p", Address: strings.TrimPrefix(srv.URL, "http://")}},
		Options{Retry: 10 * time.Millisecond, OnError: func(_ string, err error) { errs = append(errs, err.Error()) }},
		func(r Received) { got = append(got, r.Event); cancel() })
	if len(got) != 1 || got[0].Path != "/after-reconnect" || got[0].Status != 503 {
		t.Errorf("events: %+v", got)
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "answered 503") {
		t.Errorf("errors reported: %q, want one 503", errs)
	}
}

func TestSidecarsOfService(t *testing.T) {
	var services []RegistryService
	if err := json.Unmarshal([]byte(`[
	 {"hostname":"ratings.default.svc.cluster.local","ports":[{"endpoints":["127.0.0.1:1 ratings-v1-0"]}]},
	 {"hostname":"reviews.default.svc.cluster.local","ports":[{"endpoints":["127.0.0.1:2 reviews-v1-0","127.0.0.1:3 reviews-v2-0"]},{"endpoints":["127.0.0.1:4 reviews-v1-0"]}]},
	 {"hostname":"reviews.other.svc.cluster.local","ports":[{"endpoints":["127.0.0.1:5 reviews-v1-0"]}]}]`), &services); err != nil {
		t.Fatal(err)
	}
	pods := []Pod{{"ratings-v1-0", "default", "a:1"}, {"reviews-v1-0", "default", "a:2"}, {"reviews-v2-0", "default", "a:3"},
		{"reviews-v1-0", "other", "a:5"}}
	for _, c := range []struct {
		service, want, err string
	}{
		{"reviews", "a:2 a:3", ""},
		{"reviews.default", "a:2 a:3", ""},
		{"reviews.default.svc.cluster.local", "a:2 a:3", ""},
		{"reviews.other", "a:5", ""},
		{"details", "", `tap: no service "details" in the mesh`},
	} {
		got, err := Sidecars(services, pods, c.service)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%s: error %v, want %q", c.service, err, c.err)
			}
			continue
		}
		var addrs []string
		for _, s := range got {
			addrs = append(addrs, s.Address)
		}
		if err != nil || strings.Join(addrs, " ") != c.want {
			t.Errorf("%s: %v %v, want %s", c.service, addrs, err, c.want)
		}
	}
}
