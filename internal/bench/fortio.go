package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// loadSpec is one `fortio load` run.
type loadSpec struct {
	URL         string        // target URL
	Proxy       string        // HTTP proxy URL for the standard client ("" for none)
	Host        string        // Host header override ("" for none)
	Std         bool          // the standard net/http client (needed for Proxy)
	QPS         float64       // requests per second in total; -1 for as fast as possible (closed loop)
	Connections int           // keep-alive connections (fortio threads)
	Duration    time.Duration // measured duration (after one warm-up request per connection)
	JSONPath    string        // where fortio writes its result
	CPUs        string        // taskset CPU list ("" for no pinning)
	Prefix      []string      // runs fortio through this command (e.g. halyard exec --)
}

// argv returns the command line of the run.
func (s loadSpec) argv(fortio string) []string {
	args := []string{fortio, "load",
		"-qps", strconv.FormatFloat(s.QPS, 'f', -1, 64),
		"-c", strconv.Itoa(s.Connections),
		"-t", s.Duration.String(),
		"-r", "0.00001", // 10 µs histogram buckets: the default 1 ms is too coarse for added latency
		"-p", "50,90,99",
		"-json", s.JSONPath,
		"-quiet",
	}
	if s.QPS > 0 {
		args = append(args, "-uniform") // spread the connections' start times over the period
	}
	if s.Std {
		// The standard client honours HTTP_PROXY; -resolve keeps fortio from
		// resolving the mesh host name itself (its proxy is on 127.0.0.1).
		// Inside a pod (Prefix) the pod's hosts file names the service.
		args = append(args, "-stdclient")
		if len(s.Prefix) == 0 {
			args = append(args, "-resolve", "127.0.0.1")
		}
	}
	if s.Host != "" {
		args = append(args, "-H", "Host: "+s.Host)
	}
	args = append(args, s.URL)
	if s.CPUs != "" {
		args = append([]string{"taskset", "-c", s.CPUs}, args...)
	}
	return args
}

// env returns the environment of the run: base without any proxy
// variables, plus HTTP_PROXY when the run goes through a proxy.
func (s loadSpec) env(base []string) []string {
	out := make([]string, 0, len(base)+2)
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "http_proxy", "https_proxy", "no_proxy", "all_proxy":
			continue
		}
		out = append(out, kv)
	}
	if s.Proxy != "" {
		out = append(out, "HTTP_PROXY="+s.Proxy, "http_proxy="+s.Proxy)
	}
	return out
}

// loadResult is what the harness reads from fortio's JSON output.
type loadResult struct {
	ActualQPS float64
	Duration  time.Duration
	Requests  int64   // requests measured (all return codes)
	OK        int64   // requests answered 200
	P50       float64 // seconds
	P90       float64
	P99       float64
	// GeneratorCPU is the CPU time of the fortio load process itself.
	GeneratorCPU time.Duration
}

// Errors is the number of requests not answered with 200.
func (r loadResult) Errors() int64 { return r.Requests - r.OK }

type fortioJSON struct {
	ActualQPS         float64
	ActualDuration    int64 // nanoseconds
	RetCodes          map[string]int64
	DurationHistogram struct {
		Count       int64
		Percentiles []struct {
			Percentile float64
			Value      float64
		}
	}
}

// parseFortio reads fortio's `-json` output.
func parseFortio(b []byte) (loadResult, error) {
	var f fortioJSON
	if err := json.Unmarshal(b, &f); err != nil {
		return loadResult{}, fmt.Errorf("bench: fortio json: %w", err)
	}
	r := loadResult{
		ActualQPS: f.ActualQPS,
		Duration:  time.Duration(f.ActualDuration),
		Requests:  f.DurationHistogram.Count,
		OK:        f.RetCodes["200"],
	}
	found := map[float64]*float64{50: &r.P50, 90: &r.P90, 99: &r.P99}
	for _, p := range f.DurationHistogram.Percentiles {
		if dst, ok := found[p.Percentile]; ok {
			*dst = p.Value
			delete(found, p.Percentile)
		}
	}
	if len(found) > 0 {
		return loadResult{}, fmt.Errorf("bench: fortio json: percentiles 50, 90 and 99 missing (run with -p 50,90,99)")
	}
	if r.Requests == 0 {
		return loadResult{}, fmt.Errorf("bench: fortio json: no requests were measured")
	}
	return r, nil
}

// runLoad runs fortio load to completion and parses its result. The run is
// killed (with its process group) if it outlives its duration by a minute.
func (h *harness) runLoad(ctx context.Context, name string, s loadSpec) (loadResult, error) {
	ctx, cancel := context.WithTimeout(ctx, s.Duration+time.Minute)
	defer cancel()
	argv := append(append([]string(nil), s.Prefix...), s.argv(h.tools.Fortio)...)
	h.log.Debug("fortio load", "run", name, "argv", strings.Join(argv, " "))
	out, cpu, err := runCommandCPU(ctx, argv, s.env(os.Environ()), h.work)
	if err != nil {
		return loadResult{}, fmt.Errorf("bench: fortio load %s: %w\n%s", name, err, tail(out, 2000))
	}
	b, err := os.ReadFile(s.JSONPath)
	if err != nil {
		return loadResult{}, fmt.Errorf("bench: fortio load %s: %w", name, err)
	}
	r, err := parseFortio(b)
	if err != nil {
		return loadResult{}, fmt.Errorf("bench: fortio load %s: %w", name, err)
	}
	r.GeneratorCPU = cpu
	return r, nil
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
