package bench

import (
	"fmt"
	"strings"
)

// Target limits (the acceptance criteria).
const (
	maxAddedLatencyRatio = 1.5  // Halyard's added P50 and P90 over HAProxy's, every connection count
	maxCPUPer1000        = 0.10 // vCPU per 1000 requests/s, per proxy
	maxCPURatio          = 2.0  // over HAProxy's
	maxSidecarRSSMB      = 20.0 // peak RSS per sidecar at 1000 requests/s
	minSingleCoreRatio   = 0.6  // single-core maximum over HAProxy's
	maxChangeP99Ms       = 1000.0
	maxInitialSyncMs     = 10000.0
	maxControlPlaneRSSMB = 500.0
	maxScaleSidecarRSSMB = 40.0 // a sidecar with the whole synthetic mesh's config
	// latencyFloorMs is the smallest added latency used as a ratio's
	// denominator: fortio's histogram resolution in the harness (10 µs).
	latencyFloorMs = 0.01
)

// evaluate computes every target from the measurements in r.
func evaluate(r *Report) []Target {
	var out []Target
	out = append(out, latencyTargets(r.Latency)...)
	out = append(out, cpuTargets(r.Proxies)...)
	out = append(out, rssTarget(r.Proxies))
	out = append(out, singleCoreTarget(r.SingleCore))
	out = append(out, controlPlaneTargets(r.ControlPlane, r.controlPlaneSize())...)
	return out
}

func status(pass bool) string {
	if pass {
		return StatusPass
	}
	return StatusFail
}

func notRun(name, limit string) Target {
	return Target{Name: name, Measured: "-", Limit: limit, Status: StatusNotRun}
}

// latencyTargets compares Halyard's added P50 and P90 with HAProxy's at
// every connection count.
func latencyTargets(points []LatencyPoint) []Target {
	var out []Target
	for _, q := range []struct {
		name string
		get  func(PathLatency) float64
	}{
		{"added P50", func(p PathLatency) float64 { return p.AddedP50 }},
		{"added P90", func(p PathLatency) float64 { return p.AddedP90 }},
	} {
		name := fmt.Sprintf("Halyard %s <= %.1fx HAProxy's, every connection count", q.name, maxAddedLatencyRatio)
		limit := fmt.Sprintf("%.1fx", maxAddedLatencyRatio)
		var parts []string
		pass, seen := true, false
		for _, pt := range points {
			h, okH := pathOf(pt, PathHalyard)
			x, okX := pathOf(pt, PathHAProxy)
			if !okH || !okX {
				continue
			}
			seen = true
			ratio := q.get(h) / max(q.get(x), latencyFloorMs)
			pass = pass && ratio <= maxAddedLatencyRatio
			parts = append(parts, fmt.Sprintf("c=%d: %.2fx", pt.Connections, ratio))
		}
		if !seen {
			out = append(out, notRun(name, limit))
			continue
		}
		out = append(out, Target{Name: name, Measured: strings.Join(parts, ", "), Limit: limit, Status: status(pass)})
	}
	return out
}

func pathOf(pt LatencyPoint, path string) (PathLatency, bool) {
	for _, p := range pt.Paths {
		if p.Path == path {
			return p, true
		}
	}
	return PathLatency{}, false
}

// cpuTargets checks every Halyard proxy's CPU, and the Halyard chain's
// total CPU against the HAProxy chain's.
func cpuTargets(proxies []ProxyUsage) []Target {
	absName := fmt.Sprintf("CPU per Halyard proxy <= %.2f vCPU per 1000 req/s", maxCPUPer1000)
	ratioName := fmt.Sprintf("Halyard chain CPU <= %.0fx HAProxy chain's", maxCPURatio)
	var worst, ours, theirs float64
	var n int
	for _, p := range proxies {
		switch p.Path {
		case PathHalyard:
			worst = max(worst, p.CPUPer1000)
			ours += p.CPUPer1000
			n++
		case PathHAProxy:
			theirs += p.CPUPer1000
		}
	}
	if n == 0 {
		return []Target{notRun(absName, fmt.Sprintf("%.2f", maxCPUPer1000)), notRun(ratioName, fmt.Sprintf("%.0fx", maxCPURatio))}
	}
	abs := Target{Name: absName, Measured: fmt.Sprintf("%.3f (worst proxy)", worst),
		Limit: fmt.Sprintf("%.2f", maxCPUPer1000), Status: status(worst <= maxCPUPer1000)}
	if theirs <= 0 {
		return []Target{abs, notRun(ratioName, fmt.Sprintf("%.0fx", maxCPURatio))}
	}
	ratio := ours / theirs
	rel := Target{Name: ratioName, Measured: fmt.Sprintf("%.2fx (%.3f vs %.3f)", ratio, ours, theirs),
		Limit: fmt.Sprintf("%.0fx", maxCPURatio), Status: status(ratio <= maxCPURatio)}
	return []Target{abs, rel}
}

func rssTarget(proxies []ProxyUsage) Target {
	name := "Peak RSS per Halyard sidecar at 1000 req/s"
	limit := fmt.Sprintf("%.0f MB", maxSidecarRSSMB)
	var worst float64
	found := false
	for _, p := range proxies {
		if p.Path == PathHalyard {
			worst, found = max(worst, p.PeakRSSMB), true
		}
	}
	if !found {
		return notRun(name, limit)
	}
	return Target{Name: name, Measured: fmt.Sprintf("%.1f MB (worst sidecar)", worst), Limit: limit, Status: status(worst <= maxSidecarRSSMB)}
}

func singleCoreTarget(results []SingleCore) Target {
	name := fmt.Sprintf("Single-core max >= %.1fx HAProxy's", minSingleCoreRatio)
	limit := fmt.Sprintf("%.1fx", minSingleCoreRatio)
	var ours, theirs float64
	for _, s := range results {
		switch s.Path {
		case PathHalyard:
			ours = s.Capacity
		case PathHAProxy:
			theirs = s.Capacity
		}
	}
	if ours <= 0 || theirs <= 0 {
		return notRun(name, limit)
	}
	ratio := ours / theirs
	return Target{Name: name, Measured: fmt.Sprintf("%.2fx (%.0f vs %.0f req/s)", ratio, ours, theirs), Limit: limit, Status: status(ratio >= minSingleCoreRatio)}
}

func controlPlaneTargets(cp *ControlPlaneResult, size string) []Target {
	changeName := fmt.Sprintf("Control plane: P99 convergence of a change, %s", size)
	syncName := fmt.Sprintf("Control plane: initial sync of all %s", size)
	rssName := "Control plane: peak RSS"
	sidecarName := fmt.Sprintf("Peak RSS of a sidecar with the config of %s", size)
	changeLimit, syncLimit, rssLimit := fmt.Sprintf("%.0f ms", maxChangeP99Ms), fmt.Sprintf("%.0f ms", maxInitialSyncMs), fmt.Sprintf("%.0f MB", maxControlPlaneRSSMB)
	sidecarLimit := fmt.Sprintf("%.0f MB", maxScaleSidecarRSSMB)
	if cp == nil {
		return []Target{notRun(changeName, changeLimit), notRun(syncName, syncLimit), notRun(rssName, rssLimit), notRun(sidecarName, sidecarLimit)}
	}
	sidecar := notRun(sidecarName, sidecarLimit)
	if sc := cp.Sidecar; sc != nil {
		sidecar = Target{Name: sidecarName, Measured: fmt.Sprintf("%.1f MB", sc.PeakRSSMB), Limit: sidecarLimit,
			Status: status(sc.Synced && sc.PeakRSSMB <= maxScaleSidecarRSSMB)}
		if !sc.Synced {
			sidecar.Measured = "not synced: " + sc.Error
		}
	}
	change, sync := cp.Change, cp.InitialSync
	return []Target{
		{Name: changeName, Measured: convergenceSummary(change, change.P99, "P99"), Limit: changeLimit,
			Status: status(change.complete() && change.P99 <= maxChangeP99Ms)},
		{Name: syncName, Measured: convergenceSummary(sync, sync.Max, "all"), Limit: syncLimit,
			Status: status(sync.complete() && sync.Max <= maxInitialSyncMs)},
		{Name: rssName, Measured: fmt.Sprintf("%.0f MB", cp.PeakRSSMB), Limit: rssLimit, Status: status(cp.PeakRSSMB <= maxControlPlaneRSSMB)},
		sidecar,
	}
}

func (c Convergence) complete() bool { return c.Total > 0 && c.Converged == c.Total }

func convergenceSummary(c Convergence, v float64, what string) string {
	if c.Total == 0 {
		return "not measured (an earlier push was aborted)"
	}
	if !c.complete() {
		return fmt.Sprintf("%d of %d converged, the last after %.0f ms", c.Converged, c.Total, c.Max)
	}
	return fmt.Sprintf("%.0f ms (%s)", v, what)
}

// controlPlaneSize is "2000 proxies" for the target names.
func (r *Report) controlPlaneSize() string {
	if r.ControlPlane == nil {
		return "proxies"
	}
	return fmt.Sprintf("%d proxies", r.ControlPlane.Proxies)
}

// maxOtherCPU is the CPU other processes may use during a run (in cores)
// before the report warns that the numbers are noisy.
const maxOtherCPU = 0.1

// noiseNote warns when other processes competed with the data-plane runs.
func noiseNote(r *Report) string {
	worst, where := 0.0, ""
	for _, pt := range r.Latency {
		for _, p := range pt.Paths {
			if p.OtherCPU > worst {
				worst, where = p.OtherCPU, fmt.Sprintf("%s at %d connections", pathTitle(p.Path), pt.Connections)
			}
		}
	}
	for _, s := range r.SingleCore {
		if s.OtherCPU > worst {
			worst, where = s.OtherCPU, fmt.Sprintf("%s single-core", pathTitle(s.Path))
		}
	}
	if worst <= maxOtherCPU {
		return ""
	}
	return fmt.Sprintf("other processes (or the hypervisor's steal time) used up to %.2f cores during the runs (%s): the machine was not quiet, so the numbers are noisier than usual", worst, where)
}
