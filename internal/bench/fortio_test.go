package bench

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// The testdata files are fortio 1.68.2's -json output from real runs of
// the harness: 1000 req/s through the Halyard chain, and a closed-loop run
// through one HAProxy.
func TestParseFortio(t *testing.T) {
	for _, tc := range []struct {
		file          string
		qps           float64
		duration      time.Duration
		requests, ok  int64
		p50, p90, p99 float64
	}{
		{"testdata/fortio-latency-halyard.json", 983.7933678889101, 1008341825, 992, 992,
			0.0016200000000000001, 0.004729411764705883, 0.016334834885714293},
		{"testdata/fortio-closed-loop-haproxy.json", 11831.631170178427, 1001214442, 11846, 11846,
			0.0011106324472960588, 0.0024307584269662925, 0.004879677419354842},
	} {
		b, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		r, err := parseFortio(b)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		want := loadResult{ActualQPS: tc.qps, Duration: tc.duration, Requests: tc.requests, OK: tc.ok, P50: tc.p50, P90: tc.p90, P99: tc.p99}
		if r != want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.file, r, want)
		}
		if r.Errors() != 0 {
			t.Errorf("%s: %d errors, want 0", tc.file, r.Errors())
		}
	}
}

func TestParseFortioErrors(t *testing.T) {
	b, err := os.ReadFile("testdata/fortio-latency-halyard.json")
	if err != nil {
		t.Fatal(err)
	}
	noP99 := strings.Replace(string(b), `"Percentile": 99`, `"Percentile": 99.9`, 1)
	failed := strings.Replace(string(b), `"200": 992`, `"200": 900, "503": 92`, 1)
	for _, tc := range []struct{ name, in, wantErr string }{
		{"not json", "Aborting because of lookup fortio", "fortio json"},
		{"missing percentile", noP99, "percentiles 50, 90 and 99 missing"},
		{"no requests", `{"DurationHistogram": {"Count": 0, "Percentiles": [{"Percentile": 50}, {"Percentile": 90}, {"Percentile": 99}]}}`, "no requests"},
	} {
		if _, err := parseFortio([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}
	r, err := parseFortio([]byte(failed))
	if err != nil || r.Errors() != 92 {
		t.Errorf("503s: errors %d (%v), want 92", r.Errors(), err)
	}
}

func TestLoadSpecArgv(t *testing.T) {
	open := loadSpec{URL: "http://fortio:8080/echo?size=1024", Proxy: "http://127.0.0.1:4000", Std: true,
		QPS: 1000, Connections: 16, Duration: 10 * time.Second, JSONPath: "/r/x.json"}
	got := strings.Join(open.argv("/bin/fortio"), " ")
	want := "/bin/fortio load -qps 1000 -c 16 -t 10s -r 0.00001 -p 50,90,99 -json /r/x.json -quiet -uniform -stdclient -resolve 127.0.0.1 http://fortio:8080/echo?size=1024"
	if got != want {
		t.Errorf("open loop:\n got %s\nwant %s", got, want)
	}
	closed := loadSpec{URL: "http://127.0.0.1:4000/echo", Host: "fortio:8080", QPS: -1, Connections: 16,
		Duration: time.Second, JSONPath: "/r/y.json", CPUs: "0"}
	got = strings.Join(closed.argv("/bin/fortio"), " ")
	want = "taskset -c 0 /bin/fortio load -qps -1 -c 16 -t 1s -r 0.00001 -p 50,90,99 -json /r/y.json -quiet -H Host: fortio:8080 http://127.0.0.1:4000/echo"
	if got != want {
		t.Errorf("closed loop:\n got %s\nwant %s", got, want)
	}
}

func TestLoadSpecEnv(t *testing.T) {
	base := []string{"PATH=/bin", "no_proxy=localhost", "HTTPS_PROXY=http://corp:3128", "HOME=/root"}
	if got, want := (loadSpec{Proxy: "http://127.0.0.1:4000"}).env(base), []string{"PATH=/bin", "HOME=/root",
		"HTTP_PROXY=http://127.0.0.1:4000", "http_proxy=http://127.0.0.1:4000"}; !slices.Equal(got, want) {
		t.Errorf("proxied env = %q, want %q", got, want)
	}
	if got, want := (loadSpec{}).env(base), []string{"PATH=/bin", "HOME=/root"}; !slices.Equal(got, want) {
		t.Errorf("direct env = %q, want %q", got, want)
	}
}
