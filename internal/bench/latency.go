package bench

import (
	"context"
	"fmt"
	"path/filepath"
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

// latencyPoint runs every chain at one connection count, back to back.
func (h *harness) latencyPoint(ctx context.Context, chains []chain, conns int, totals map[string][]proxyTotals) (LatencyPoint, error) {
	pt := LatencyPoint{Connections: conns}
	for _, ch := range chains {
		raw := fmt.Sprintf("latency-%s-c%d.json", ch.path, conns)
		meter, err := startOther(append(ch.pids[:len(ch.pids):len(ch.pids)], ch.server))
		if err != nil {
			return pt, err
		}
		h.log.Info("latency", "path", ch.path, "connections", conns, "duration", h.opts.Duration)
		res, err := h.runLoad(ctx, fmt.Sprintf("%s c=%d", ch.path, conns), loadSpec{
			URL: ch.url, Proxy: ch.proxy, Prefix: ch.prefix, Std: true, QPS: h.opts.QPS, Connections: conns,
			Duration: h.opts.Duration, JSONPath: filepath.Join(h.raw, raw),
		})
		if err != nil {
			return pt, err
		}
		if res.OK == 0 {
			return pt, fmt.Errorf("bench: %s at %d connections: no request succeeded (see %s and the logs in %s)", ch.path, conns, raw, h.logs)
		}
		cpu, other, err := meter.stop(res.GeneratorCPU)
		if err != nil {
			return pt, err
		}
		requests := res.Requests + int64(conns) // fortio's warm-up: one request per connection
		var perPoint []float64
		for i := range ch.pids {
			totals[ch.path][i].cpu += cpu[i]
			totals[ch.path][i].requests += requests
			perPoint = append(perPoint, cpu[i].Seconds()*1000/float64(requests))
		}
		pt.Paths = append(pt.Paths, PathLatency{
			Path: ch.path, P50: ms(res.P50), P90: ms(res.P90), P99: ms(res.P99),
			ActualQPS: res.ActualQPS, Requests: res.Requests, Errors: res.Errors(), RawResults: filepath.Join("raw", raw),
			OtherCPU: other, ProxyCPU: perPoint,
		})
	}
	addedOverDirect(&pt)
	return pt, nil
}

func ms(seconds float64) float64 { return seconds * 1000 }

// addedOverDirect fills each path's added latency over the direct path.
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
		p.AddedP50, p.AddedP90, p.AddedP99 = p.P50-d.P50, p.P90-d.P90, p.P99-d.P99
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
				Requests: t.requests, PeakRSSMB: float64(s.PeakRSS) / 1e6}
			if t.requests > 0 {
				u.CPUPer1000 = t.cpu.Seconds() * 1000 / float64(t.requests)
			}
			out = append(out, u)
		}
	}
	return out, nil
}
