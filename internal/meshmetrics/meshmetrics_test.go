package meshmetrics

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	in := `# HELP istio_requests_total Total requests.
# TYPE istio_requests_total counter
istio_requests_total{reporter="destination",response_code="200",path="a\"b\\c\nd"} 42 1700000000000
istio_requests_total 7
other_metric{x="1"} 3
`
	samples, err := Parse(strings.NewReader(in), wanted)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 2 {
		t.Fatalf("got %d samples, want 2 (other_metric filtered): %+v", len(samples), samples)
	}
	if s := samples[0]; s.Value != 42 || s.Labels["path"] != "a\"b\\c\nd" || s.Labels["response_code"] != "200" {
		t.Errorf("first sample: %+v", s)
	}
	if s := samples[1]; s.Value != 7 || len(s.Labels) != 0 {
		t.Errorf("second sample: %+v", s)
	}
	for _, bad := range []string{`x{a="1" 3`, `x{a=1} 3`, `x{a="1"}`, `x{a="1"} abc`, `x{a="1\`} {
		if _, err := Parse(strings.NewReader(bad), nil); err == nil || !strings.Contains(err.Error(), "meshmetrics: line 1") {
			t.Errorf("Parse(%q) error = %v, want a line-1 error", bad, err)
		}
	}
}

func TestQuantileInterpolatesLikePrometheus(t *testing.T) {
	cum := make([]float64, len(Buckets))
	// 50 requests <= 10ms, 40 in (10,25], 10 in (25,50].
	for i, b := range Buckets {
		switch {
		case b >= 50:
			cum[i] = 100
		case b >= 25:
			cum[i] = 90
		case b >= 10:
			cum[i] = 50
		}
	}
	for _, c := range []struct{ q, want float64 }{
		{0.99, 47.5}, // 25 + 25*(99-90)/10
		{0.5, 10},    // rank 50 is the top of the le=10 bucket
		{0.25, 7.5},  // 5 + 5*(25-0)/50
		{0.9, 25},
	} {
		if got := Quantile(c.q, cum, 100); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := Quantile(0.99, cum, 0); got != 0 {
		t.Errorf("Quantile with no requests = %v, want 0", got)
	}
}

// fakeSidecar serves /stats/prometheus with whatever text it is given.
type fakeSidecar struct {
	mu   sync.Mutex
	text string
	srv  *httptest.Server
}

func newFakeSidecar(t *testing.T) *fakeSidecar {
	f := &fakeSidecar{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stats/prometheus" {
			http.NotFound(w, r)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		fmt.Fprint(w, f.text)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSidecar) set(text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.text = text
}

func (f *fakeSidecar) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

const inboundLabels = `reporter="destination",source_workload="productpage-v1",source_workload_namespace="default",source_app="productpage",source_version="v1",source_canonical_service="productpage",source_canonical_revision="v1",destination_workload="reviews-v2",destination_workload_namespace="default",destination_service="reviews.default.svc.cluster.local",destination_service_name="reviews",destination_service_namespace="default",destination_canonical_service="reviews",destination_canonical_revision="v2",destination_version="v2",request_protocol="http",connection_security_policy="mutual_tls"`

// reviewsText is the inbound metrics of a reviews-v2 sidecar that served
// ok requests with 200 and bad with 503; n10/n25/n50 requests fall in
// the 10, 25 and 50 ms buckets.
func reviewsText(ok, bad, n10, n25, n50 int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "istio_requests_total{%s,response_code=\"200\"} %d\n", inboundLabels, ok)
	fmt.Fprintf(&b, "istio_requests_total{%s,response_code=\"503\"} %d\n", inboundLabels, bad)
	for _, le := range Buckets {
		n := 0
		if le >= 10 {
			n += n10
		}
		if le >= 25 {
			n += n25
		}
		if le >= 50 {
			n += n50
		}
		fmt.Fprintf(&b, "istio_request_duration_milliseconds_bucket{%s,response_code=\"200\",le=\"%g\"} %d\n", inboundLabels, le, n)
	}
	fmt.Fprintf(&b, "istio_request_duration_milliseconds_bucket{%s,response_code=\"200\",le=\"+Inf\"} %d\n", inboundLabels, n10+n25+n50)
	fmt.Fprintf(&b, "istio_request_duration_milliseconds_sum{%s,response_code=\"200\"} %d\n", inboundLabels, 10*n10+20*n25+40*n50)
	// The client's sidecar reports the same requests: they must not count twice.
	src := strings.Replace(inboundLabels, `reporter="destination"`, `reporter="source"`, 1)
	fmt.Fprintf(&b, "istio_requests_total{%s,response_code=\"200\"} %d\n", src, ok)
	return b.String()
}

const externalLine = `istio_requests_total{reporter="source",source_workload="productpage-v1",source_workload_namespace="default",source_canonical_service="productpage",source_canonical_revision="v1",destination_workload="unknown",destination_service="api.example.com",destination_service_name="api.example.com",request_protocol="http",response_code="200",connection_security_policy="unknown"} %d
`

func TestScraperRatesErrorsAndP99(t *testing.T) {
	reviews, productpage := newFakeSidecar(t), newFakeSidecar(t)
	now := time.Unix(1_700_000_000, 0)
	s := NewScraper(Options{
		Targets: func() []Target {
			return []Target{{Name: "reviews", Address: reviews.addr()}, {Name: "productpage", Address: productpage.addr()}}
		},
		Now: func() time.Time { return now },
	})
	ctx := context.Background()

	reviews.set(reviewsText(1000, 10, 500, 400, 100)) // before: the baseline
	productpage.set(fmt.Sprintf(externalLine, 5))
	s.ScrapeOnce(ctx)

	now = now.Add(10 * time.Second)
	reviews.set(reviewsText(1000+95, 10+5, 500+50, 400+40, 100+10))
	productpage.set(fmt.Sprintf(externalLine, 5+20))
	s.ScrapeOnce(ctx)

	g := s.Store().Graph(time.Minute)
	if len(g.Nodes) != 3 || len(g.Edges) != 2 {
		t.Fatalf("graph: %d nodes, %d edges, want 3 and 2: %+v", len(g.Nodes), len(g.Edges), g)
	}
	e := g.Edges[1]
	if e.Source != "productpage.default:v1" || e.Destination != "reviews.default:v2" {
		t.Fatalf("edge: %+v", e)
	}
	want := Stats{RPS: 10, ErrorRate: 0.05, P99Ms: 47.5, MTLS: 1, Requests: 100}
	if !near(e.Stats, want) {
		t.Errorf("productpage -> reviews: %+v, want %+v", e.Stats, want)
	}
	ext := g.Edges[0]
	if ext.Destination != "api.example.com.unknown:unknown" || ext.RPS != 2 || ext.MTLS != 0 {
		t.Errorf("external edge: %+v", ext)
	}

	// The reviews sidecar restarts: its counters start again from zero.
	now = now.Add(10 * time.Second)
	reviews.set(reviewsText(30, 0, 30, 0, 0))
	s.ScrapeOnce(ctx)
	g = s.Store().Graph(10 * time.Second)
	if e := g.Edges[1]; e.RPS != 3 || e.ErrorRate != 0 || e.P99Ms != 9.95 {
		t.Errorf("after a restart: %+v, want 3 rps, no errors, p99 9.95ms", e.Stats)
	}

	series := s.Store().Series("reviews", "default", 10*time.Second)
	if len(series) != 2 || series[0].RPS != 10 || series[1].RPS != 3 {
		t.Errorf("series: %+v, want two points at 10 and 3 rps", series)
	}
}

func TestScraperSkipsFailingTargets(t *testing.T) {
	reviews := newFakeSidecar(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadAddr := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	now := time.Unix(1_700_000_000, 0)
	s := NewScraper(Options{
		Targets: func() []Target { return []Target{{Address: reviews.addr()}, {Address: deadAddr}} },
		Now:     func() time.Time { return now },
	})
	reviews.set(reviewsText(0, 0, 0, 0, 0))
	s.ScrapeOnce(context.Background())
	now = now.Add(5 * time.Second)
	reviews.set("garbage{ 1\n")
	s.ScrapeOnce(context.Background())
	now = now.Add(5 * time.Second)
	reviews.set(reviewsText(50, 0, 50, 0, 0))
	s.ScrapeOnce(context.Background())
	if g := s.Store().Graph(10 * time.Second); len(g.Edges) != 1 || g.Edges[0].RPS != 5 {
		t.Errorf("graph after a bad scrape: %+v, want one edge at 5 rps", g)
	}
}

func near(a, b Stats) bool {
	eq := func(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
	return eq(a.RPS, b.RPS) && eq(a.ErrorRate, b.ErrorRate) && eq(a.P99Ms, b.P99Ms) && eq(a.MTLS, b.MTLS) && eq(a.Requests, b.Requests)
}
