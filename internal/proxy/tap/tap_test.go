package tap

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/stats"
)

var self = stats.SelfFromMetadata(map[string]string{"WORKLOAD_NAME": "productpage-v1", "NAMESPACE": "default"})

// subscribe opens a tap stream and waits until the hub counts it.
func subscribe(t *testing.T, h *Hub, query string) *bufio.Scanner {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	before := h.active.Load()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/debug/tap"+query, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if ct := res.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Fatalf("content type %q", ct)
	}
	for deadline := time.Now().Add(5 * time.Second); h.active.Load() == before; {
		if time.Now().After(deadline) {
			t.Fatal("subscriber not registered")
		}
		time.Sleep(time.Millisecond)
	}
	return bufio.NewScanner(res.Body)
}

func TestStreamAndFilters(t *testing.T) {
	h := NewHub(self)
	sc := subscribe(t, h, "?path=/reviews&method=GET&authority=reviews")
	start := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	h.Publish(&hcm.RequestInfo{Method: "GET", Authority: "ratings:9080", Path: "/reviews/1", GRPCStatus: -1})  // wrong authority
	h.Publish(&hcm.RequestInfo{Method: "POST", Authority: "reviews:9080", Path: "/reviews/1", GRPCStatus: -1}) // wrong method
	h.Publish(&hcm.RequestInfo{Method: "GET", Authority: "reviews:9080", Path: "/other", GRPCStatus: -1})      // wrong path
	h.Publish(&hcm.RequestInfo{Start: start, Duration: 1500 * time.Microsecond, Method: "GET", Authority: "reviews:9080",
		Path: "/reviews/1", Status: 503, GRPCStatus: -1, Flags: hcm.UpstreamConnectionFailure | hcm.UpstreamRetryLimitExceeded,
		Service: "reviews.default.svc.cluster.local;reviews;default", UpstreamHost: "127.0.0.1:7000",
		UpstreamWorkload: "reviews-v2;default;reviews;v2;Kubernetes;reviews;v2"})
	if !sc.Scan() {
		t.Fatal("stream ended:", sc.Err())
	}
	var e Event
	if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	want := Event{Time: "2026-01-02T03:04:05.000000006Z", Direction: "outbound", Protocol: "http", Method: "GET",
		Authority: "reviews:9080", Path: "/reviews/1", Status: 503, DurationMs: 1.5, Flags: "UF,URX",
		SourceWorkload: "productpage-v1", SourceNamespace: "default", DestinationService: "reviews.default.svc.cluster.local",
		DestinationWorkload: "reviews-v2", DestinationNamespace: "default", UpstreamHost: "127.0.0.1:7000"}
	if e != want {
		t.Fatalf("event\n got %+v\nwant %+v", e, want)
	}
}

func TestInboundGRPC(t *testing.T) {
	h := NewHub(self)
	sc := subscribe(t, h, "")
	h.Publish(&hcm.RequestInfo{Inbound: true, GRPC: true, Status: 200, GRPCStatus: 14, Method: "POST", Path: "/p.S/M",
		PeerMetadata: "reviews-v1;other;reviews;v1;Kubernetes;reviews;v1"})
	if !sc.Scan() {
		t.Fatal("stream ended:", sc.Err())
	}
	var e Event
	if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	if e.Direction != "inbound" || e.Protocol != "grpc" || e.GRPCStatus != "14" || e.SourceWorkload != "reviews-v1" ||
		e.SourceNamespace != "other" || e.DestinationWorkload != "productpage-v1" {
		t.Fatalf("event %+v", e)
	}
}

// A client that does not read loses events; Publish never blocks.
func TestSlowClientDrops(t *testing.T) {
	h := NewHub(self)
	s := &sub{ch: make(chan []byte, Buffer)}
	h.subs[s] = struct{}{}
	h.active.Add(1)
	info := &hcm.RequestInfo{Method: "GET", Path: "/", GRPCStatus: -1}
	done := make(chan struct{})
	go func() {
		for range Buffer + 10 {
			h.Publish(info)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Publish blocked")
	}
	if got := h.Dropped(); got != 10 {
		t.Fatalf("dropped %d, want 10", got)
	}
	if len(s.ch) != Buffer {
		t.Fatalf("%d queued, want %d", len(s.ch), Buffer)
	}
}

func BenchmarkPublishIdle(b *testing.B) {
	h := NewHub(self)
	info := &hcm.RequestInfo{Method: "GET", Path: "/", GRPCStatus: -1}
	b.ReportAllocs()
	for b.Loop() {
		h.Publish(info)
	}
}
