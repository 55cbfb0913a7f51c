package hcm

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

func retryRoute(cluster string, p *router.RetryPolicy) router.RouteConfig {
	return router.RouteConfig{Name: "r", Match: prefix("/"), Action: router.Action{Cluster: cluster, Retry: p}}
}

// flaky answers its first call with fail (a status, or "grpc14" for a
// trailers-only gRPC UNAVAILABLE) and every later call with 200 and the
// request body in X-Body.
func flaky(t *testing.T, fail string) string {
	var calls atomic.Int32
	return backend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if calls.Add(1) == 1 {
			if fail == "grpc14" {
				w.Header().Set("Content-Type", "application/grpc")
				w.Header().Set("Grpc-Status", "14")
				w.WriteHeader(200)
				return
			}
			code, _ := strconv.Atoi(fail)
			w.WriteHeader(code)
			io.WriteString(w, "failed")
			return
		}
		w.Header().Set("X-Body", string(b))
		io.WriteString(w, "ok")
	})
}

func policy(on string, n uint32) *router.RetryPolicy {
	o, _ := router.ParseRetryOn(on)
	return &router.RetryPolicy{On: o, NumRetries: n, AvoidPreviousHosts: true, HostSelectionMaxAttempts: 5,
		StatusCodes: []uint32{503}, BaseInterval: time.Millisecond}
}

// TestRetryConditions sends one request to a single host whose first
// answer fails; the retry policy decides whether a second attempt (which
// succeeds) is made.
func TestRetryConditions(t *testing.T) {
	tests := []struct {
		name     string
		fail     string
		policy   *router.RetryPolicy
		grpc     bool
		body     string
		status   int
		flags    Flags
		attempts int
	}{
		{"5xx", "503", policy("5xx", 3), false, "", 200, 0, 2},
		{"5xx replays the body", "500", policy("5xx", 3), false, "hello", 200, 0, 2},
		{"gateway-error covers 503", "503", policy("gateway-error", 1), false, "", 200, 0, 2},
		{"gateway-error does not cover 500", "500", policy("gateway-error", 1), false, "", 500, 0, 1},
		{"retriable-status-codes 503", "503", policy("retriable-status-codes", 1), false, "", 200, 0, 2},
		{"retriable-status-codes not 500", "500", policy("retriable-status-codes", 1), false, "", 500, 0, 1},
		{"retriable-4xx is 409", "409", policy("retriable-4xx", 1), false, "", 200, 0, 2},
		{"retriable-4xx not 404", "404", policy("retriable-4xx", 1), false, "", 404, 0, 1},
		{"grpc unavailable", "grpc14", policy("unavailable", 1), true, "", 200, 0, 2},
		{"grpc cancelled does not cover unavailable", "grpc14", policy("cancelled", 1), true, "", 200, 0, 1},
		{"no policy", "503", nil, false, "", 503, 0, 1},
		{"zero retries", "503", policy("5xx", 0), false, "", 503, UpstreamRetryLimitExceeded, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rg := newRig(t, []clusterSpec{{name: "c", addrs: []string{flaky(t, tt.fail)}}}, table(vhost(retryRoute("c", tt.policy))))
			hdr := http.Header{}
			if tt.grpc {
				hdr.Set("Content-Type", "application/grpc")
			}
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			resp, _ := rg.do("POST", "/", hdr, body)
			info := rg.last()
			if resp.StatusCode != tt.status || info.Flags != tt.flags || info.Attempts != tt.attempts {
				t.Errorf("status %d flags %v attempts %d (%s), want %d %v %d", resp.StatusCode, info.Flags, info.Attempts, info.Details, tt.status, tt.flags, tt.attempts)
			}
			if tt.body != "" && resp.Header.Get("X-Body") != tt.body {
				t.Errorf("upstream got body %q, want %q", resp.Header.Get("X-Body"), tt.body)
			}
			if tt.grpc && (tt.attempts == 2) != (resp.Header.Get("Grpc-Status") == "") {
				t.Errorf("grpc-status %q after %d attempts", resp.Header.Get("Grpc-Status"), info.Attempts)
			}
		})
	}
}

// TestRetryFailures covers attempts that get no response.
func TestRetryFailures(t *testing.T) {
	ok := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	unavailable := backend(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	dead := deadAddr(t)
	t.Run("connect-failure retried on another host", func(t *testing.T) {
		for _, on := range []string{"connect-failure", "reset", "5xx", "gateway-error"} {
			rg := newRig(t, []clusterSpec{{name: "c", addrs: []string{dead, ok}}}, table(vhost(retryRoute("c", policy(on, 1)))))
			retried := 0
			for range 20 {
				resp, _ := rg.do("GET", "/", nil, nil)
				info := rg.last()
				if resp.StatusCode != 200 {
					t.Fatalf("%s: status %d flags %v", on, resp.StatusCode, info.Flags)
				}
				if info.Attempts == 2 {
					retried++
				}
			}
			if retried == 0 {
				t.Errorf("%s: no request hit the dead host first", on)
			}
		}
	})
	for _, tc := range []struct {
		name     string
		hosts    []string
		policy   *router.RetryPolicy
		status   int
		flags    Flags
		attempts int
	}{
		{"no condition for a connect failure", []string{dead}, policy("retriable-4xx", 1), 503, UpstreamConnectionFailure, 1},
		{"exhausted: the last response and URX", []string{unavailable}, policy("5xx", 2), 503, UpstreamRetryLimitExceeded, 3},
		{"exhausted connect failures", []string{dead}, policy("connect-failure", 2), 503, UpstreamConnectionFailure | UpstreamRetryLimitExceeded, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rg := newRig(t, []clusterSpec{{name: "c", addrs: tc.hosts}}, table(vhost(retryRoute("c", tc.policy))))
			resp, _ := rg.do("GET", "/", nil, nil)
			info := rg.last()
			if resp.StatusCode != tc.status || info.Flags != tc.flags || info.Attempts != tc.attempts {
				t.Errorf("status %d flags %v attempts %d (%s), want %d %v %d", resp.StatusCode, info.Flags, info.Attempts, info.Details, tc.status, tc.flags, tc.attempts)
			}
		})
	}
}

// TestCircuitBreakers: a request the max_requests breaker refuses is
// answered 503 UO at once; a retry the max_retries breaker refuses is not
// made (UO on the response passed through).
func TestCircuitBreakers(t *testing.T) {
	unavailable := backend(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	for _, tc := range []struct {
		name     string
		limits   upstream.Thresholds
		body     string
		flags    Flags
		attempts int
	}{
		{"max_requests", upstream.Thresholds{MaxConnections: 10, MaxPendingRequests: 10, MaxRequests: 0, MaxRetries: 10}, bodyOverflow, UpstreamOverflow, 0},
		{"max_retries", upstream.Thresholds{MaxConnections: 10, MaxPendingRequests: 10, MaxRequests: 10, MaxRetries: 0}, "", UpstreamOverflow, 1},
	} {
		rg := newRig(t, []clusterSpec{{name: "c", addrs: []string{unavailable}, limits: &tc.limits}}, table(vhost(retryRoute("c", policy("5xx", 2)))))
		resp, body := rg.do("GET", "/", nil, nil)
		info := rg.last()
		if resp.StatusCode != 503 || body != tc.body || info.Flags != tc.flags || info.Attempts != tc.attempts {
			t.Errorf("%s: %d %q flags %v attempts %d (%s)", tc.name, resp.StatusCode, body, info.Flags, info.Attempts, info.Details)
		}
	}
}

// TestRetryAvoidsPreviousHosts: with previous_hosts every retry of a
// request goes to a host it has not tried.
func TestRetryAvoidsPreviousHosts(t *testing.T) {
	var hits [3]atomic.Int32
	var addrs []string
	for i := range hits {
		addrs = append(addrs, backend(t, func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			w.WriteHeader(503)
		}))
	}
	rg := newRig(t, []clusterSpec{{name: "c", addrs: addrs}}, table(vhost(retryRoute("c", policy("5xx", 2)))))
	const n = 10
	for range n {
		if resp, _ := rg.do("GET", "/", nil, nil); resp.StatusCode != 503 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	for i := range hits {
		if got := hits[i].Load(); got != n {
			t.Errorf("host %d got %d attempts, want %d (one per request)", i, got, n)
		}
	}
}

// TestRetryBodies checks Envoy's buffering rules: a small body (known
// length or streamed) is replayed; one over the limit is not retried.
func TestRetryBodies(t *testing.T) {
	var calls atomic.Int32
	// Fails the first attempt of every request (after reading its body),
	// then echoes the body length.
	flaky := backend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if calls.Add(1)%2 == 1 {
			w.WriteHeader(503)
			return
		}
		io.WriteString(w, strconv.Itoa(len(b)))
	})
	p := &router.RetryPolicy{On: router.Retry5xx, NumRetries: 1, BaseInterval: time.Millisecond}
	rg := newRig(t, []clusterSpec{{name: "c", addrs: []string{flaky}}}, table(vhost(retryRoute("c", p))),
		func(o *Options) { o.MaxBufferedBody = 1024 })
	for _, tc := range []struct {
		name   string
		size   int
		chunk  bool
		status int
	}{
		{"small", 1000, false, 200},
		{"small streamed", 1000, true, 200},
		{"large", 5000, false, 503},
		{"large streamed", 5000, true, 503},
	} {
		calls.Store(0)
		var body io.Reader = strings.NewReader(strings.Repeat("x", tc.size))
		if tc.chunk {
			body = io.MultiReader(body) // hides the length: chunked
		}
		resp, got := rg.do("POST", "/", nil, body)
		if resp.StatusCode != tc.status || tc.status == 200 && got != strconv.Itoa(tc.size) {
			t.Errorf("%s: status %d body %q, want %d", tc.name, resp.StatusCode, got, tc.status)
		}
	}
}

func TestPerTryTimeout(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	defer close(release)
	// The first call hangs (until the test ends); later ones answer.
	first := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		io.WriteString(w, "ok")
	})
	p := &router.RetryPolicy{On: router.Retry5xx, NumRetries: 1, PerTryTimeout: 50 * time.Millisecond, BaseInterval: time.Millisecond}
	rg := newRig(t, []clusterSpec{{name: "c", addrs: []string{first}}}, table(vhost(retryRoute("c", p))))
	resp, body := rg.do("GET", "/", nil, nil)
	info := rg.last()
	if resp.StatusCode != 200 || body != "ok" || info.Attempts != 2 {
		t.Errorf("status %d body %q attempts %d", resp.StatusCode, body, info.Attempts)
	}
	// Every attempt times out: 504 UT.
	calls.Store(-100)
	p2 := &router.RetryPolicy{On: router.RetryConnectFailure, NumRetries: 1, PerTryTimeout: 30 * time.Millisecond}
	hang := backend(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	rg2 := newRig(t, []clusterSpec{{name: "c", addrs: []string{hang}}}, table(vhost(retryRoute("c", p2))))
	resp, body = rg2.do("GET", "/", nil, nil)
	info = rg2.last()
	if resp.StatusCode != 504 || body != "upstream request timeout" || info.Flags != UpstreamRequestTimeout || info.Attempts != 1 {
		t.Errorf("per-try timeout without retry: %d %q %v attempts %d", resp.StatusCode, body, info.Flags, info.Attempts)
	}
}

func TestRouteTimeouts(t *testing.T) {
	var sawTimeout atomic.Value
	hang := backend(t, func(w http.ResponseWriter, r *http.Request) {
		sawTimeout.Store(r.Header.Get("Grpc-Timeout"))
		<-r.Context().Done()
	})
	route := func(name string, a router.Action) router.RouteConfig {
		a.Cluster = "c"
		return router.RouteConfig{Name: name, Match: router.Match{PathKind: router.PathExact, Path: "/" + name}, Action: a}
	}
	rg := newRig(t, []clusterSpec{{name: "c", addrs: []string{hang}}}, table(vhost(
		route("t", router.Action{Timeout: 80 * time.Millisecond}),
		route("grpc-capped", router.Action{Timeout: 5 * time.Second, MaxGRPCTimeout: 80 * time.Millisecond, HasMaxGRPCTimeout: true}),
		route("grpc-header", router.Action{Timeout: 5 * time.Second, MaxGRPCTimeout: 0, HasMaxGRPCTimeout: true}),
	)))
	for _, tc := range []struct {
		path, grpcTimeout string
		min, max          time.Duration
		upstreamSees      string
	}{
		{"/t", "", 80 * time.Millisecond, 2 * time.Second, ""},
		{"/grpc-capped", "10S", 80 * time.Millisecond, 2 * time.Second, "80m"},
		{"/grpc-capped", "", 80 * time.Millisecond, 2 * time.Second, "80m"},
		{"/grpc-header", "60m", 60 * time.Millisecond, 2 * time.Second, "60m"},
	} {
		hdr := http.Header{}
		if tc.path != "/t" {
			hdr.Set("Content-Type", "application/grpc")
		}
		if tc.grpcTimeout != "" {
			hdr.Set("Grpc-Timeout", tc.grpcTimeout)
		}
		start := time.Now()
		resp, _ := rg.do("POST", tc.path, hdr, nil)
		took := time.Since(start)
		info := rg.last()
		wantStatus := 504
		if tc.path != "/t" {
			wantStatus = 200 // trailers-only gRPC reply
			if resp.Header.Get("Grpc-Status") != "14" {
				t.Errorf("%s: grpc-status %q", tc.path, resp.Header.Get("Grpc-Status"))
			}
		}
		if resp.StatusCode != wantStatus || info.Flags != UpstreamRequestTimeout || took < tc.min || took > tc.max {
			t.Errorf("%s (grpc-timeout %q): %d flags %v after %s", tc.path, tc.grpcTimeout, resp.StatusCode, info.Flags, took)
		}
		if got, _ := sawTimeout.Load().(string); got != tc.upstreamSees {
			t.Errorf("%s: upstream grpc-timeout %q, want %q", tc.path, got, tc.upstreamSees)
		}
	}
}

func TestGRPCTimeoutHeader(t *testing.T) {
	for _, tc := range []struct {
		in string
		d  time.Duration
		ok bool
	}{
		{"1S", time.Second, true}, {"100m", 100 * time.Millisecond, true}, {"5M", 5 * time.Minute, true},
		{"2H", 2 * time.Hour, true}, {"10u", 10 * time.Microsecond, true}, {"7n", 7, true},
		{"123456789S", 0, false}, {"S", 0, false}, {"1x", 0, false}, {"-1S", 0, false},
	} {
		d, ok := parseGRPCTimeout(tc.in)
		if d != tc.d || ok != tc.ok {
			t.Errorf("parse %q: %v %v", tc.in, d, ok)
		}
	}
	for d, want := range map[time.Duration]string{
		80 * time.Millisecond: "80m", 1500 * time.Microsecond: "2m", 99999 * time.Second: "99999000m",
		2000000 * time.Second: "2000000S", 1: "1m",
	} {
		if got := formatGRPCTimeout(d); got != want {
			t.Errorf("format %v: %q, want %q", d, got, want)
		}
	}
}
