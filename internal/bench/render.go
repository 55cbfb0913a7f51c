package bench

import (
	"fmt"
	"io"
	"strings"
)

func pathTitle(path string) string {
	switch path {
	case PathHalyard:
		return "Halyard"
	case PathHAProxy:
		return "HAProxy"
	case PathTransparent:
		return "Halyard, transparent capture"
	}
	return path
}

// Markdown renders the report: machine and settings, latency, proxy
// resources, single-core maximum, control plane and targets.
func (r *Report) Markdown() string {
	var b strings.Builder
	r.writeHeader(&b)
	if len(r.Latency) > 0 {
		r.writeLatency(&b)
	}
	if len(r.Proxies) > 0 {
		r.writeProxies(&b)
	}
	if len(r.SingleCore) > 0 {
		r.writeSingleCore(&b)
	}
	if r.ControlPlane != nil {
		r.writeControlPlane(&b)
	}
	r.writeTargets(&b)
	r.writeProfiles(&b)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- note: %s\n", n)
	}
	return b.String()
}

func (r *Report) writeHeader(w io.Writer) {
	m, s := r.Machine, r.Settings
	fmt.Fprintf(w, "Run %s on %d x %s, Linux %s, %s", r.StartedAt.UTC().Format("2006-01-02 15:04 MST"), m.CPUs, m.Model, m.Kernel, m.GoVersion)
	if m.HAProxy != "" {
		fmt.Fprintf(w, ", HAProxy %s", m.HAProxy)
	}
	if m.Fortio != "" {
		fmt.Fprintf(w, ", fortio %s", m.Fortio)
	}
	fmt.Fprint(w, ".")
	if len(r.Latency) > 0 {
		fmt.Fprintf(w, " Load: %.0f req/s open loop, %d-byte responses, HTTP/1.1 keep-alive, %gs per point", s.QPS, s.ResponseBytes, s.Duration)
		if s.Rounds > 1 {
			fmt.Fprintf(w, " in %d rounds (every path once per round; latencies are the medians of the rounds)", s.Rounds)
		}
		fmt.Fprint(w, ".")
	}
	if s.Quick {
		fmt.Fprint(w, " Quick mode: a smoke test, not a measurement.")
	}
	fmt.Fprint(w, "\n\n")
}

func (r *Report) writeLatency(w io.Writer) {
	fmt.Fprint(w, "Latency in ms: direct, then what each proxy chain adds over direct (P50 / P90 / P99)\n\n")
	fmt.Fprint(w, "| connections | direct | Halyard added | HAProxy added | Halyard / HAProxy P50 | P90 |\n")
	fmt.Fprint(w, "|---:|---|---|---|---:|---:|\n")
	for _, pt := range r.Latency {
		d, _ := pathOf(pt, PathDirect)
		h, okH := pathOf(pt, PathHalyard)
		x, okX := pathOf(pt, PathHAProxy)
		r50, r90 := "-", "-"
		if okH && okX {
			r50 = fmt.Sprintf("%.2fx", h.AddedP50/max(x.AddedP50, latencyFloorMs))
			r90 = fmt.Sprintf("%.2fx", h.AddedP90/max(x.AddedP90, latencyFloorMs))
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s |\n", pt.Connections,
			triple(d.P50, d.P90, d.P99, false), addedTriple(h, okH), addedTriple(x, okX), r50, r90)
	}
	fmt.Fprintln(w)
	r.writeTransparent(w)
}

// writeTransparent adds the transparent-capture path's latency, when it
// ran: what the Halyard chain adds when the client's connections are
// captured instead of sent to the sidecar as an HTTP proxy.
func (r *Report) writeTransparent(w io.Writer) {
	rows := ""
	for _, pt := range r.Latency {
		if t, ok := pathOf(pt, PathTransparent); ok {
			h, _ := pathOf(pt, PathHalyard)
			rows += fmt.Sprintf("| %d | %s | %s |\n", pt.Connections, addedTriple(t, true), addedTriple(h, h.Path != ""))
		}
	}
	if rows == "" {
		return
	}
	fmt.Fprint(w, "Transparent capture (the load generator in the client pod's network namespace, its connections redirected to the sidecar by nftables): added latency in ms (P50 / P90 / P99)\n\n")
	fmt.Fprint(w, "| connections | Halyard, transparent | Halyard, explicit (above) |\n|---:|---|---|\n")
	fmt.Fprint(w, rows)
	fmt.Fprintln(w)
}

func addedTriple(p PathLatency, ok bool) string {
	if !ok {
		return "-"
	}
	s := triple(p.AddedP50, p.AddedP90, p.AddedP99, true)
	if p.Errors > 0 {
		s += fmt.Sprintf(" (%d errors)", p.Errors)
	}
	return s
}

func triple(a, b, c float64, signed bool) string {
	f := "%.3f"
	if signed {
		f = "%+.3f"
	}
	return fmt.Sprintf(f+" / "+f+" / "+f, a, b, c)
}

func (r *Report) writeProxies(w io.Writer) {
	fmt.Fprintf(w, "Proxy resources over the latency run at %.0f req/s\n\n", r.Settings.QPS)
	fmt.Fprint(w, "| path | proxy | vCPU per 1000 req/s | peak RSS (MB) | at the end: own / binary and libraries (MB) |\n|---|---|---:|---:|---:|\n")
	for _, p := range r.Proxies {
		split := "-" // not in the report (an older one) or not given by the kernel
		if p.AnonRSSMB > 0 || p.FileRSSMB > 0 {
			split = fmt.Sprintf("%.1f / %.1f", p.AnonRSSMB, p.FileRSSMB)
		}
		fmt.Fprintf(w, "| %s | %s | %.3f | %.1f | %s |\n", pathTitle(p.Path), p.Proxy, p.CPUPer1000, p.PeakRSSMB, split)
	}
	fmt.Fprintln(w)
}

func (r *Report) writeSingleCore(w io.Writer) {
	fmt.Fprintf(w, "Single proxy on one core, closed loop, %d connections, fortio %s client (load generator and server share the other core)\n\n",
		r.Settings.SingleCoreConnections, r.Settings.SingleCoreClient)
	fmt.Fprint(w, "| path | measured req/s | proxy core busy | capacity req/s (measured / busy) |\n|---|---:|---:|---:|\n")
	for _, s := range r.SingleCore {
		busy, capacity := "-", "-"
		if s.Path != PathDirect {
			busy, capacity = fmt.Sprintf("%.0f%%", 100*s.ProxyCore), fmt.Sprintf("%.0f", s.Capacity)
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s |\n", pathTitle(s.Path), s.Measured, busy, capacity)
	}
	fmt.Fprintln(w)
}

func (r *Report) writeControlPlane(w io.Writer) {
	cp := r.ControlPlane
	fmt.Fprintf(w, "Control plane: %d services x %d versions, %d proxies (every type ACKed); peak RSS %.0f MB\n\n",
		cp.Services, cp.Versions, cp.Proxies, cp.PeakRSSMB)
	if sc := cp.Sidecar; sc != nil && sc.Synced {
		fmt.Fprintf(w, "One proxy is a real sidecar, the others simulated ADS clients; the sidecar's peak RSS with the whole config: %.1f MB\n\n", sc.PeakRSSMB)
	}
	fmt.Fprint(w, "| push | P50 (ms) | P99 (ms) | all (ms) | converged | snapshots set in (ms) | responses (MB) | control-plane CPU (s) | peak RSS (MB) |\n")
	fmt.Fprint(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range []struct {
		name string
		c    Convergence
	}{{"initial sync", cp.InitialSync}, {"config change", cp.Change}} {
		c := row.c
		if c.Total == 0 {
			fmt.Fprintf(w, "| %s | - | - | - | not run | - | - | - | - |\n", row.name)
			continue
		}
		fmt.Fprintf(w, "| %s | %.0f | %.0f | %.0f | %d / %d | %s | %.0f | %.1f | %.0f |\n",
			row.name, c.P50, c.P99, c.Max, c.Converged, c.Total, orDash(c.Compute), c.ResponseMB, c.CPUSeconds, c.PeakRSSMB)
	}
	fmt.Fprintln(w)
	for _, row := range []struct {
		name string
		c    Convergence
	}{{"initial sync", cp.InitialSync}, {"config change", cp.Change}} {
		if row.c.Aborted != "" {
			fmt.Fprintf(w, "The %s was aborted: %s.\n\n", row.name, row.c.Aborted)
		}
	}
}

// orDash renders 0 (not measured) as "-".
func orDash(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

func (r *Report) writeTargets(w io.Writer) {
	fmt.Fprint(w, "| target | measured | limit | result |\n|---|---|---|---|\n")
	for _, t := range r.Targets {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.Name, t.Measured, t.Limit, t.Status)
	}
	fmt.Fprintln(w)
}

// profileRows is how many functions of each profile the report shows.
const profileRows = 12

func (r *Report) writeProfiles(w io.Writer) {
	profiles := r.Profiles
	if r.ControlPlane != nil && r.ControlPlane.Profile != nil {
		profiles = append(profiles[:len(profiles):len(profiles)], *r.ControlPlane.Profile)
	}
	for _, p := range profiles {
		if p.Error != "" {
			fmt.Fprintf(w, "CPU profile %s: %s\n\n", p.Name, p.Error)
			continue
		}
		fmt.Fprintf(w, "CPU profile %s (%s; top %d by flat time):\n\n```text\n%s```\n\n", p.Name, p.File, profileRows, topSummary(p.Top, profileRows))
	}
}

// topSummary keeps the sample line, the header and the first n rows of
// `go tool pprof -top` output.
func topSummary(top string, n int) string {
	var b strings.Builder
	rows := -1
	for _, line := range strings.Split(top, "\n") {
		switch {
		case strings.HasPrefix(line, "Duration:"):
			b.WriteString(line + "\n")
		case strings.Contains(line, "flat%") && rows < 0:
			b.WriteString(line + "\n")
			rows = 0
		case rows >= 0 && rows < n && strings.TrimSpace(line) != "":
			b.WriteString(line + "\n")
			rows++
		}
	}
	return b.String()
}
