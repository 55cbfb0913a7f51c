package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"
)

// chain is one way from the load generator to a fortio server, with the
// proxy processes on it (client side first).
type chain struct {
	path   string
	url    string
	proxy  string   // HTTP proxy URL of the client side; "" for direct
	host   string   // Host header for clients that talk to the proxy directly
	prefix []string // the load generator runs through this command
	pids   []int
	server int // the fortio server's pid
}

// proxyRoles names a chain's proxies by position.
func proxyRoles(n int) []string {
	if n == 1 {
		return []string{"single"}
	}
	return []string{"client", "server"}[:n]
}

// proxyTotals accumulates one proxy's CPU and the requests it carried.
type proxyTotals struct {
	cpu      time.Duration
	requests int64
}

// latencyPhase measures every path at every connection count at the fixed
// rate, then each proxy's CPU and peak RSS over the whole phase.
func (h *harness) latencyPhase(ctx context.Context, rep *Report) error {
	var cl cleanups
	defer cl.run()
	chains, m, err := h.startLatencyChains(ctx, &cl)
	if err != nil {
		return err
	}
	totals := map[string][]proxyTotals{}
	for _, ch := range chains {
		totals[ch.path] = make([]proxyTotals, len(ch.pids))
	}
	for _, conns := range h.opts.Connections {
		pt, err := h.latencyPoint(ctx, chains, conns, totals)
		if err != nil {
			return err
		}
		rep.Latency = append(rep.Latency, pt)
	}
	if rep.Proxies, err = proxyUsage(chains, totals); err != nil {
		return err
	}
	if h.opts.Profile {
		server, _ := m.state.Pod(meshService)
		rep.Profiles = h.profileSidecars(ctx, chains[1], []sidecarAdmin{
			{"client", m.client.AdminAddress}, {"server", server.AdminAddress}})
	}
	return nil
}

// startLatencyChains starts fortio's server, the two HAProxy processes and
// a mesh whose fortio pod has a sidecar, none of them pinned.
func (h *harness) startLatencyChains(ctx context.Context, cl *cleanups) ([]chain, *meshRun, error) {
	srvProc, srv, err := h.startFortioServer(ctx, cl, "fortio-server", "")
	if err != nil {
		return nil, nil, err
	}
	haServerAddr, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	haClientAddr, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	haServer, err := h.startHAProxy(ctx, cl, "haproxy-server", haproxyConfig{Listen: haServerAddr, Upstream: srv}, "")
	if err != nil {
		return nil, nil, err
	}
	haClient, err := h.startHAProxy(ctx, cl, "haproxy-client", haproxyConfig{Listen: haClientAddr, Upstream: haServerAddr}, "")
	if err != nil {
		return nil, nil, err
	}
	m, err := h.startMesh(ctx, cl, meshOptions{Name: "mesh-latency", Sidecar: true})
	if err != nil {
		return nil, nil, err
	}
	chains := []chain{
		{path: PathDirect, url: "http://" + srv + h.echoPath(), server: srvProc.PID()},
		{path: PathHalyard, url: "http://" + meshHost + h.echoPath(), proxy: "http://" + m.client.OutboundAddress,
			pids: []int{m.clientProxy, m.serverProxy}, server: m.app},
		{path: PathHAProxy, url: "http://" + meshHost + h.echoPath(), proxy: "http://" + haClientAddr,
			pids: []int{haClient.PID(), haServer.PID()}, server: srvProc.PID()},
	}
	if t := h.startTransparentChain(ctx, cl); t != nil {
		chains = append(chains, *t)
	}
	return chains, m, nil
}

// startTransparentChain starts a second mesh in transparent capture mode;
// its load generator runs through `halyard exec`, inside the client pod.
// Transparent mode needs Linux and root: without them the path is left out
// (and said so in the log).
func (h *harness) startTransparentChain(ctx context.Context, cl *cleanups) *chain {
	m, err := h.startMesh(ctx, cl, meshOptions{Name: "mesh-transparent", Sidecar: true, Capture: "transparent"})
	if err != nil {
		h.log.Warn("the transparent-capture path is left out", "error", err)
		return nil
	}
	return &chain{path: PathTransparent, url: "http://" + meshHost + h.echoPath(),
		prefix: []string{h.tools.Halyard, "--state-dir", m.stateDir, "exec", "--"},
		pids:   []int{m.clientProxy, m.serverProxy}, server: m.app}
}

// echoPath asks fortio's echo handler for a response of ResponseBytes.
func (h *harness) echoPath() string { return fmt.Sprintf("/echo?size=%d", h.opts.ResponseBytes) }

// latencyPoint runs every chain at one connection count: Rounds rounds, in
// each of which every chain runs for Duration/Rounds, back to back, direct
// first. A path's latency is the median of its rounds, its added latency
// the median of what it added over the direct path in the same round: a
// burst of outside load then spoils one round rather than the comparison.
func (h *harness) latencyPoint(ctx context.Context, chains []chain, conns int, totals map[string][]proxyTotals) (LatencyPoint, error) {
	pt := LatencyPoint{Connections: conns}
	rounds := max(h.opts.Rounds, 1)
	perRound := h.opts.Duration / time.Duration(rounds)
	byPath := make([][]LatencyRound, len(chains))
	cpu := make([][]time.Duration, len(chains))
	requests := make([]int64, len(chains))
	for r := range rounds {
		for i, ch := range chains {
			raw := fmt.Sprintf("latency-%s-c%d-r%d.json", ch.path, conns, r+1)
			meter, err := startOther(append(ch.pids[:len(ch.pids):len(ch.pids)], ch.server))
			if err != nil {
				return pt, err
			}
			h.log.Info("latency", "path", ch.path, "connections", conns, "round", r+1, "duration", perRound)
			res, err := h.runLoad(ctx, fmt.Sprintf("%s c=%d round %d", ch.path, conns, r+1), loadSpec{
				URL: ch.url, Proxy: ch.proxy, Prefix: ch.prefix, Std: true, QPS: h.opts.QPS, Connections: conns,
				Duration: perRound, JSONPath: filepath.Join(h.raw, raw),
			})
			if err != nil {
				return pt, err
			}
			if res.OK == 0 {
				return pt, fmt.Errorf("bench: %s at %d connections: no request succeeded (see %s and the logs in %s)", ch.path, conns, raw, h.logs)
			}
			used, other, err := meter.stop(res.GeneratorCPU)
			if err != nil {
				return pt, err
			}
			n := res.Requests + int64(conns) // fortio's warm-up: one request per connection
			requests[i] += n
			if cpu[i] == nil {
				cpu[i] = make([]time.Duration, len(ch.pids))
			}
			for j := range ch.pids {
				cpu[i][j] += used[j]
				totals[ch.path][j].cpu += used[j]
				totals[ch.path][j].requests += n
			}
			byPath[i] = append(byPath[i], LatencyRound{P50: ms(res.P50), P90: ms(res.P90), P99: ms(res.P99),
				ActualQPS: res.ActualQPS, Requests: res.Requests, Errors: res.Errors(), RawResults: filepath.Join("raw", raw), OtherCPU: other})
		}
	}
	for i, ch := range chains {
		p := PathLatency{Path: ch.path, Rounds: byPath[i], RawResults: byPath[i][0].RawResults}
		for _, r := range byPath[i] {
			p.ActualQPS += r.ActualQPS / float64(len(byPath[i]))
			p.Requests += r.Requests
			p.Errors += r.Errors
			p.OtherCPU = max(p.OtherCPU, r.OtherCPU)
		}
		p.P50 = median(byPath[i], func(r LatencyRound) float64 { return r.P50 })
		p.P90 = median(byPath[i], func(r LatencyRound) float64 { return r.P90 })
		p.P99 = median(byPath[i], func(r LatencyRound) float64 { return r.P99 })
		for j := range ch.pids {
			p.ProxyCPU = append(p.ProxyCPU, cpu[i][j].Seconds()*1000/float64(requests[i]))
		}
		pt.Paths = append(pt.Paths, p)
	}
	addedOverDirect(&pt)
	return pt, nil
}

// median of f over the rounds (the mean of the middle two for an even
// count).
func median(rounds []LatencyRound, f func(LatencyRound) float64) float64 {
	v := make([]float64, len(rounds))
	for i, r := range rounds {
		v[i] = f(r)
	}
	slices.Sort(v)
	n := len(v)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func ms(seconds float64) float64 { return seconds * 1000 }

// addedOverDirect fills each path's added latency over the direct path:
// the median over the rounds of what the path added in each round (the
// plain difference of the two medians when there are no rounds).
func addedOverDirect(pt *LatencyPoint) {
	d, ok := pathOf(*pt, PathDirect)
	if !ok {
		return
	}
	for i := range pt.Paths {
		p := &pt.Paths[i]
		if p.Path == PathDirect {
			continue
		}
		if len(p.Rounds) == 0 || len(p.Rounds) != len(d.Rounds) {
			p.AddedP50, p.AddedP90, p.AddedP99 = p.P50-d.P50, p.P90-d.P90, p.P99-d.P99
			continue
		}
		added := make([]LatencyRound, len(p.Rounds))
		for r, pr := range p.Rounds {
			dr := d.Rounds[r]
			added[r] = LatencyRound{P50: pr.P50 - dr.P50, P90: pr.P90 - dr.P90, P99: pr.P99 - dr.P99}
		}
		p.AddedP50 = median(added, func(r LatencyRound) float64 { return r.P50 })
		p.AddedP90 = median(added, func(r LatencyRound) float64 { return r.P90 })
		p.AddedP99 = median(added, func(r LatencyRound) float64 { return r.P99 })
	}
}

// proxyUsage turns the totals into per-proxy CPU per 1000 requests and
// reads each proxy's peak RSS.
func proxyUsage(chains []chain, totals map[string][]proxyTotals) ([]ProxyUsage, error) {
	var out []ProxyUsage
	for _, ch := range chains {
		roles := proxyRoles(len(ch.pids))
		for i, pid := range ch.pids {
			s, err := readProc(pid)
			if err != nil {
				return nil, err
			}
			t := totals[ch.path][i]
			u := ProxyUsage{Path: ch.path, Proxy: roles[i], PID: pid, CPUSeconds: t.cpu.Seconds(),
				Requests: t.requests, PeakRSSMB: float64(s.PeakRSS) / 1e6,
				AnonRSSMB: float64(s.AnonRSS) / 1e6, FileRSSMB: float64(s.FileRSS) / 1e6}
			if t.requests > 0 {
				u.CPUPer1000 = t.cpu.Seconds() * 1000 / float64(t.requests)
			}
			out = append(out, u)
		}
	}
	return out, nil
}
