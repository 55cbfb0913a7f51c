package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// singleCorePhase measures the closed-loop maximum of one proxy pinned to
// one core (Halyard's sidecar with GOMAXPROCS=1, HAProxy with nbthread 1),
// the load generator and the server sharing the other cores. A sidecar's
// environment is fixed by `halyard up`, so the mesh runs its sidecars
// through a wrapper script that sets GOMAXPROCS and the CPU affinity; the
// fortio pod has no sidecar, so the client sidecar is the only proxy.
func (h *harness) singleCorePhase(ctx context.Context, rep *Report) error {
	var cl cleanups
	defer cl.run()
	load, proxy, note := coreSplit(allowedCPUs())
	if note != "" {
		rep.Notes = append(rep.Notes, note)
	}
	srvProc, srv, err := h.startFortioServer(ctx, &cl, "fortio-server-1core", load)
	if err != nil {
		return err
	}
	haAddr, err := freeAddr()
	if err != nil {
		return err
	}
	ha, err := h.startHAProxy(ctx, &cl, "haproxy-1core", haproxyConfig{Listen: haAddr, Upstream: srv, Threads: 1}, proxy)
	if err != nil {
		return err
	}
	m, err := h.startMesh(ctx, &cl, meshOptions{Name: "mesh-1core", UpCPUs: load, SidecarEnv: "GOMAXPROCS=1", ProxyCPUs: proxy})
	if err != nil {
		return err
	}
	for _, ch := range h.singleCoreChains(srv, srvProc.PID(), haAddr, ha.PID(), m) {
		sc, err := h.singleCoreRun(ctx, ch, load)
		if err != nil {
			return err
		}
		rep.SingleCore = append(rep.SingleCore, sc)
		if ch.path != PathDirect && sc.ProxyCore < 0.9 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("single core: the %s proxy was busy %.0f%% of its core, so the load generator and server were the bottleneck; its capacity is extrapolated from its CPU per request",
				pathTitle(ch.path), 100*sc.ProxyCore))
		}
	}
	return nil
}

// singleCoreChains are the three paths with one proxy each. The fast
// fortio client talks to a proxy directly, naming the mesh host in Host
// (the sidecar's explicit listener accepts origin-form requests); the
// standard client goes through HTTP_PROXY as in the latency phase.
func (h *harness) singleCoreChains(srv string, srvPID int, haAddr string, haPID int, m *meshRun) []chain {
	direct := chain{path: PathDirect, url: "http://" + srv + h.echoPath(), server: srvPID}
	if h.opts.SingleCoreClient == "std" {
		meshURL := "http://" + meshHost + h.echoPath()
		return []chain{direct,
			{path: PathHalyard, url: meshURL, proxy: "http://" + m.client.OutboundAddress, pids: []int{m.clientProxy}, server: m.app},
			{path: PathHAProxy, url: meshURL, proxy: "http://" + haAddr, pids: []int{haPID}, server: srvPID},
		}
	}
	return []chain{direct,
		{path: PathHalyard, url: "http://" + m.client.OutboundAddress + h.echoPath(), host: meshHost, pids: []int{m.clientProxy}, server: m.app},
		{path: PathHAProxy, url: "http://" + haAddr + h.echoPath(), host: meshHost, pids: []int{haPID}, server: srvPID},
	}
}

// singleCoreRun runs one chain as fast as it goes and measures how busy
// its proxy's core was.
func (h *harness) singleCoreRun(ctx context.Context, ch chain, loadCPUs string) (SingleCore, error) {
	meter, err := startOther(append(ch.pids[:len(ch.pids):len(ch.pids)], ch.server))
	if err != nil {
		return SingleCore{}, err
	}
	raw := fmt.Sprintf("single-core-%s.json", ch.path)
	h.log.Info("single core", "path", ch.path, "connections", h.opts.SingleCoreConnections, "duration", h.opts.Duration)
	res, err := h.runLoad(ctx, "single-core "+ch.path, loadSpec{
		URL: ch.url, Proxy: ch.proxy, Host: ch.host, Std: h.opts.SingleCoreClient == "std", QPS: -1,
		Connections: h.opts.SingleCoreConnections, Duration: h.opts.Duration,
		JSONPath: filepath.Join(h.raw, raw), CPUs: loadCPUs,
	})
	if err != nil {
		return SingleCore{}, err
	}
	cpu, other, err := meter.stop(res.GeneratorCPU)
	if err != nil {
		return SingleCore{}, err
	}
	sc := SingleCore{Path: ch.path, Measured: res.ActualQPS, Errors: res.Errors(), Capacity: res.ActualQPS, OtherCPU: other}
	if len(ch.pids) > 0 && res.Duration > 0 {
		sc.ProxyCore = cpu[0].Seconds() / res.Duration.Seconds()
		sc.Capacity = capacity(res.ActualQPS, sc.ProxyCore)
	}
	return sc, nil
}

// capacity extrapolates a proxy's maximum from the rate it carried and
// the busy fraction of its core.
func capacity(measured, busy float64) float64 {
	if busy <= 0 {
		return 0
	}
	return measured / min(busy, 1)
}

// allowedCPUs lists the CPUs this process may run on.
func allowedCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil
	}
	var out []int
	for i := range 1024 {
		if set.IsSet(i) {
			out = append(out, i)
		}
	}
	return out
}

// coreSplit gives the proxy the last CPU and the load generator, server
// and control plane the others, as taskset lists. With one CPU nothing is
// pinned.
func coreSplit(cpus []int) (load, proxy, note string) {
	if len(cpus) < 2 {
		return "", "", "single core: only one CPU is available, so nothing was pinned and the proxy shares its core with the load generator and server"
	}
	rest := make([]string, len(cpus)-1)
	for i, c := range cpus[:len(cpus)-1] {
		rest[i] = strconv.Itoa(c)
	}
	return strings.Join(rest, ","), strconv.Itoa(cpus[len(cpus)-1]), ""
}
