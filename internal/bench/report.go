package bench

import "time"

// Path names: how the load generator reaches the fortio server.
const (
	PathDirect  = "direct"  // no proxy
	PathHalyard = "halyard" // client sidecar -> server sidecar (two Halyard proxies)
	// PathTransparent is PathHalyard with transparent capture: the load
	// generator runs in the client pod's network namespace and its
	// connections are redirected to the client sidecar (nftables).
	PathTransparent = "halyard-transparent"
	PathHAProxy     = "haproxy" // client-side HAProxy -> server-side HAProxy
)

// Report is the result of one bench run; it is written as report.json and
// rendered as report.md.
type Report struct {
	Machine      Machine             `json:"machine"`
	Settings     Settings            `json:"settings"`
	StartedAt    time.Time           `json:"startedAt"`
	Elapsed      float64             `json:"elapsedSeconds"`
	Latency      []LatencyPoint      `json:"latency,omitempty"`
	Proxies      []ProxyUsage        `json:"proxies,omitempty"`
	SingleCore   []SingleCore        `json:"singleCore,omitempty"`
	ControlPlane *ControlPlaneResult `json:"controlPlane,omitempty"`
	Profiles     []Profile           `json:"profiles,omitempty"`
	Targets      []Target            `json:"targets"`
	Notes        []string            `json:"notes,omitempty"`
}

// Machine describes where the bench ran.
type Machine struct {
	CPUs      int    `json:"cpus"`
	Model     string `json:"model"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"goVersion"`
	HAProxy   string `json:"haproxy,omitempty"`
	Fortio    string `json:"fortio,omitempty"`
}

// Settings are the parameters of the run.
type Settings struct {
	Duration              float64 `json:"durationSeconds"`
	Rounds                int     `json:"rounds"`
	QPS                   float64 `json:"qps"`
	ResponseBytes         int     `json:"responseBytes"`
	Connections           []int   `json:"connections"`
	SingleCoreConnections int     `json:"singleCoreConnections"`
	SingleCoreClient      string  `json:"singleCoreClient"`
	Quick                 bool    `json:"quick,omitempty"`
}

// LatencyPoint is the latency of every path at one connection count.
type LatencyPoint struct {
	Connections int           `json:"connections"`
	Paths       []PathLatency `json:"paths"`
}

// PathLatency is one path's latency; Added* are over the direct path at
// the same connection count (zero for the direct path itself).
type PathLatency struct {
	Path       string  `json:"path"`
	P50        float64 `json:"p50Ms"`
	P90        float64 `json:"p90Ms"`
	P99        float64 `json:"p99Ms"`
	AddedP50   float64 `json:"addedP50Ms"`
	AddedP90   float64 `json:"addedP90Ms"`
	AddedP99   float64 `json:"addedP99Ms"`
	ActualQPS  float64 `json:"actualQps"`
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	RawResults string  `json:"rawResults"` // fortio's JSON, relative to the results dir
	// ProxyCPU is each proxy's vCPU per 1000 requests/s in this run
	// (client side first).
	ProxyCPU []float64 `json:"proxyVcpuPer1000Rps,omitempty"`
	// OtherCPU is the CPU (in cores) that processes outside the run used
	// while it lasted (including the hypervisor's steal time): noise. The
	// most of any round.
	OtherCPU float64 `json:"otherCpuCores"`
	// Rounds are the path's rounds at this connection count; P50, P90 and
	// P99 above are their medians, RawResults the first round's.
	Rounds []LatencyRound `json:"rounds,omitempty"`
}

// LatencyRound is one round of a path at one connection count.
type LatencyRound struct {
	P50        float64 `json:"p50Ms"`
	P90        float64 `json:"p90Ms"`
	P99        float64 `json:"p99Ms"`
	ActualQPS  float64 `json:"actualQps"`
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	RawResults string  `json:"rawResults"`
	OtherCPU   float64 `json:"otherCpuCores"`
}

// ProxyUsage is one proxy process's resource use over the whole latency
// run (every connection count) at the fixed request rate.
type ProxyUsage struct {
	Path       string  `json:"path"`
	Proxy      string  `json:"proxy"` // client or server
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpuSeconds"`
	Requests   int64   `json:"requests"`
	// CPUPer1000 is CPU seconds per 1000 requests, which is also vCPU per
	// 1000 requests/s.
	CPUPer1000 float64 `json:"vcpuPer1000Rps"`
	PeakRSSMB  float64 `json:"peakRssMB"` // VmHWM, 10^6 bytes
	// AnonRSSMB and FileRSSMB split the resident memory at the end of the
	// run: the process's own (heap, stacks) and its binary's and
	// libraries' pages, which the page cache shares between processes
	// running the same files (RssAnon and RssFile, 10^6 bytes).
	AnonRSSMB float64 `json:"anonRssMB"`
	FileRSSMB float64 `json:"fileRssMB"`
}

// SingleCore is one path's closed-loop maximum with its proxy on one core.
type SingleCore struct {
	Path      string  `json:"path"`
	Measured  float64 `json:"measuredQps"`
	Errors    int64   `json:"errors"`
	ProxyCore float64 `json:"proxyCoreUse"` // busy fraction of the proxy's core; 0 for direct
	// Capacity is Measured / ProxyCore: what the proxy would carry with its
	// core fully busy (equal to Measured when the proxy is the bottleneck).
	Capacity float64 `json:"capacityQps"`
	OtherCPU float64 `json:"otherCpuCores"` // as in PathLatency
}

// ControlPlaneResult is the control-plane scale benchmark.
type ControlPlaneResult struct {
	Services    int         `json:"services"`
	Versions    int         `json:"versions"`
	Proxies     int         `json:"proxies"`
	InitialSync Convergence `json:"initialSync"`
	Change      Convergence `json:"change"`
	PeakRSSMB   float64     `json:"peakRssMB"`
	Profile     *Profile    `json:"profile,omitempty"` // CPU profile of the first seconds of the initial sync
	// Sidecar is the real sidecar among the proxies, once it has every
	// type of the changed config (nil when the pushes did not complete).
	Sidecar *ScaleSidecar `json:"sidecar,omitempty"`
}

// ScaleSidecar is a real sidecar synced with the whole synthetic mesh.
type ScaleSidecar struct {
	Synced    bool    `json:"synced"` // every type ACKed at the control plane's latest version
	PeakRSSMB float64 `json:"peakRssMB"`
	Error     string  `json:"error,omitempty"`
}

// Convergence is how long proxies took to ACK a push, from the moment the
// control plane was handed the change.
type Convergence struct {
	P50        float64 `json:"p50Ms"`
	P99        float64 `json:"p99Ms"`
	Max        float64 `json:"maxMs"` // the last proxy: all of them synced
	Converged  int     `json:"converged"`
	Total      int     `json:"total"`
	Compute    float64 `json:"computeMs"`  // time the control plane took to compute and set every snapshot
	ResponseMB float64 `json:"responseMB"` // xDS response bytes received by all clients
	CPUSeconds float64 `json:"controlPlaneCpuSeconds"`
	PeakRSSMB  float64 `json:"peakRssMB"`         // the control plane's peak RSS at the end of the push
	Aborted    string  `json:"aborted,omitempty"` // why the measurement stopped early
}

// Profile is a CPU profile of a sidecar or the control plane under load.
type Profile struct {
	Name  string `json:"name"` // sidecar-client, sidecar-server, controlplane
	File  string `json:"file,omitempty"`
	Top   string `json:"top,omitempty"`
	Error string `json:"error,omitempty"`
}

// Target is one pass/fail criterion.
type Target struct {
	Name     string `json:"name"`
	Measured string `json:"measured"`
	Limit    string `json:"limit"`
	Status   string `json:"status"` // pass, FAIL, not run
}

// Target statuses.
const (
	StatusPass   = "pass"
	StatusFail   = "FAIL"
	StatusNotRun = "not run"
)

// Failed returns the targets that did not pass (failed or not run).
func (r *Report) Failed() []Target {
	var out []Target
	for _, t := range r.Targets {
		if t.Status != StatusPass {
			out = append(out, t)
		}
	}
	return out
}
