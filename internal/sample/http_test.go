package sample_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/sample"
)

func TestHTTP1Reply(t *testing.T) {
	addr := start(t, sample.Options{Service: "reviews", Version: "v2", Instance: "reviews-1"})
	hdr := http.Header{"X-Request-Id": {"req-1"}, "X-Custom": {"a", "b"}}
	status, respHdr, body := get(t, http1Client(t), "http://"+addr+"/reviews/0?x=1&y=2", hdr)
	if status != http.StatusOK {
		t.Fatalf("status = %d, body %s", status, body)
	}
	for k, want := range map[string]string{
		"X-Sample-Service":  "reviews",
		"X-Sample-Version":  "v2",
		"X-Sample-Instance": "reviews-1",
		"Content-Type":      "application/json",
	} {
		if got := respHdr.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	var r sample.Reply
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	want := sample.Reply{
		Service: "reviews", Version: "v2", Instance: "reviews-1", Method: "GET", Proto: "HTTP/1.1",
		Host: addr, Path: "/reviews/0", Query: "x=1&y=2", RequestID: "req-1",
	}
	got := r
	got.Headers = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("reply = %+v, want %+v", got, want)
	}
	if v := r.Headers.Values("X-Custom"); strings.Join(v, ",") != "a,b" {
		t.Errorf("echoed X-Custom = %q, want [a b]", v)
	}
}

func TestH2CReply(t *testing.T) {
	addr := start(t, sample.Options{Service: "details", Version: "v1"})
	c := h2cClient(t)
	resp, err := c.Get("http://" + addr + "/details/0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("response proto = %s, want HTTP/2.0", resp.Proto)
	}
	r, status := fetch(t, c, "http://"+addr+"/details/0", nil)
	if status != http.StatusOK || r.Proto != "HTTP/2.0" || r.Service != "details" {
		t.Errorf("got status %d, reply %+v; want 200 from details over HTTP/2.0", status, r)
	}
	if r.Instance == "" {
		t.Error("default instance is empty")
	}
}

func TestHealthz(t *testing.T) {
	// The downstream does not exist: /healthz must not call it.
	addr := start(t, sample.Options{Calls: []string{"http://" + closedAddr(t) + "/"}})
	for _, c := range []*http.Client{http1Client(t), h2cClient(t)} {
		status, _, body := get(t, c, "http://"+addr+"/healthz", nil)
		if status != http.StatusOK || string(body) != "ok" {
			t.Errorf("healthz = %d %q, want 200 ok", status, body)
		}
	}
}

func TestDelay(t *testing.T) {
	addr := start(t, sample.Options{})
	c := http1Client(t)
	begin := time.Now()
	status, _, _ := get(t, c, "http://"+addr+"/?delay=250ms", nil)
	if elapsed := time.Since(begin); elapsed < 250*time.Millisecond {
		t.Errorf("delay=250ms answered after %v", elapsed)
	}
	if status != http.StatusOK {
		t.Errorf("status = %d", status)
	}
}

func TestDelayRespectsCancellation(t *testing.T) {
	addr, stop := startStoppable(t, sample.Options{ShutdownTimeout: time.Minute})
	c := http1Client(t)
	c.Timeout = 100 * time.Millisecond
	if _, err := c.Get("http://" + addr + "/?delay=5m"); err == nil {
		t.Fatal("request with delay=5m and a 100ms timeout succeeded")
	}
	// The handler saw the cancellation, so a graceful shutdown is quick
	// even though the shutdown timeout is long.
	begin := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if elapsed := time.Since(begin); elapsed > 30*time.Second {
		t.Errorf("shutdown took %v: the delayed handler kept running", elapsed)
	}
}

func TestStatus(t *testing.T) {
	addr := start(t, sample.Options{Service: "ratings"})
	for _, c := range []*http.Client{http1Client(t), h2cClient(t)} {
		r, status := fetch(t, c, "http://"+addr+"/?status=503", nil)
		if status != http.StatusServiceUnavailable || r.Service != "ratings" {
			t.Errorf("status=503: got %d, %+v", status, r)
		}
		status, _, _ = get(t, c, "http://"+addr+"/?status=204", nil)
		if status != http.StatusNoContent {
			t.Errorf("status=204: got %d", status)
		}
	}
}

func TestStatusPercentage(t *testing.T) {
	addr := start(t, sample.Options{})
	c := http1Client(t)
	for _, tc := range []struct {
		param     string
		n, lo, hi int
	}{
		{"503:30", 1000, 230, 370}, // mean 300, sd ~14.5
		{"500:0", 50, 0, 0},
		{"500:100", 50, 50, 50},
	} {
		hits := countStatus(t, c, "http://"+addr+"/?status="+tc.param, tc.n)
		if hits < tc.lo || hits > tc.hi {
			t.Errorf("status=%s: %d of %d requests failed, want %d..%d", tc.param, hits, tc.n, tc.lo, tc.hi)
		}
	}
}

// countStatus sends n requests over 8 workers and counts non-200 replies.
func countStatus(t *testing.T, c *http.Client, url string, n int) int {
	t.Helper()
	const workers = 8
	results := make(chan int, n)
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	for range workers {
		go func() {
			for range jobs {
				resp, err := c.Get(url)
				if err != nil {
					results <- -1
					continue
				}
				resp.Body.Close()
				results <- resp.StatusCode
			}
		}()
	}
	hits := 0
	for range n {
		switch s := <-results; s {
		case -1:
			t.Error("request failed")
		case http.StatusOK:
		default:
			hits++
		}
	}
	return hits
}

func TestSize(t *testing.T) {
	addr := start(t, sample.Options{})
	for _, c := range []*http.Client{http1Client(t), h2cClient(t)} {
		for _, size := range []int{1024, 4096, 1 << 20} {
			url := "http://" + addr + "/?size=" + strconv.Itoa(size)
			status, hdr, body := get(t, c, url, nil)
			if status != http.StatusOK || len(body) != size {
				t.Errorf("size=%d: status %d, %d bytes", size, status, len(body))
			}
			if hdr.Get("Content-Length") != strconv.Itoa(size) {
				t.Errorf("size=%d: Content-Length %q", size, hdr.Get("Content-Length"))
			}
			var r sample.Reply
			if err := json.Unmarshal(body, &r); err != nil {
				t.Errorf("size=%d: body is not JSON: %v", size, err)
			}
		}
		// Smaller than the plain reply: the plain reply is sent.
		status, _, body := get(t, c, "http://"+addr+"/?size=10", nil)
		if status != http.StatusOK || len(body) <= 10 || !json.Valid(body) {
			t.Errorf("size=10: status %d, body %q", status, body)
		}
	}
}

func TestBadParams(t *testing.T) {
	addr := start(t, sample.Options{})
	c := http1Client(t)
	for _, q := range []string{
		"delay=abc", "delay=-1s", "delay=100h", "delay=",
		"status=abc", "status=99", "status=600", "status=503:101", "status=503:-1",
		"status=503:x", "status=503:NaN", "status=:50",
		"size=-1", "size=abc", "size=99999999999", "size=1e3",
		"strict=maybe",
	} {
		status, _, body := get(t, c, "http://"+addr+"/?"+q, nil)
		wantStatus := http.StatusBadRequest
		if q == "delay=" { // empty means unset
			wantStatus = http.StatusOK
		}
		if status != wantStatus {
			t.Errorf("?%s: status %d (%s), want %d", q, status, body, wantStatus)
		}
		if status == http.StatusBadRequest && !strings.HasPrefix(string(body), "sample: bad") {
			t.Errorf("?%s: body %q, want a message", q, body)
		}
	}
	if _, status, err := sample.Fetch(t.Context(), c, "http://"+addr+"/?size=x", nil); err == nil || status != 400 {
		t.Errorf("Fetch of a 400: status %d, err %v; want 400 and an error", status, err)
	}
}

func TestInstanceDefaultsAndCounts(t *testing.T) {
	addr := start(t, sample.Options{Service: "ratings", Status: "503", Delay: 20 * time.Millisecond})
	start := time.Now()
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || time.Since(start) < 20*time.Millisecond {
		t.Errorf("default status/delay not applied: %d after %s", resp.StatusCode, time.Since(start))
	}
	resp, err = http.Get("http://" + addr + "/?status=200&delay=0s")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("query did not override the default status: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Host = "ratings-shadow:9080"
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	resp, err = http.Get("http://" + addr + "/_sample/requests")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c sample.Counts
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.Total != 3 || c.Hosts["ratings-shadow:9080"] != 1 || c.Hosts[addr] != 2 {
		t.Errorf("counts: %+v", c)
	}
}
