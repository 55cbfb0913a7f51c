package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"net/http"
	"slices"
	"time"

	"github.com/halyard-mesh/halyard/internal/bench/cpsim"
)

// controlPlane runs the control-plane scale benchmark: Halyard's control
// plane in its own process (cpserver, driving internal/controlplane with a
// synthetic mesh) and one simulated ADS client per pod in this one. The
// clients connect first; then the pods are registered (initial sync) and
// then one VirtualService changes (convergence), each timed from the
// moment the control plane is handed the change to each client's last ACK.
func (h *harness) controlPlane(ctx context.Context) (*ControlPlaneResult, error) {
	spec := cpsim.Spec{Services: h.opts.CPServices, Versions: h.opts.CPVersions}
	child, err := h.startCPServer(spec)
	if err != nil {
		return nil, err
	}
	defer func() {
		grace := 10 * time.Second
		if ctx.Err() != nil {
			grace = time.Second // interrupted: do not wait for a busy control plane
		}
		child.stop(grace)
	}()
	// One proxy is a real sidecar, to measure its memory with the whole
	// mesh's config; the others are simulated clients.
	ids := cpsim.ProxyIDs(spec)
	sidecar, err := h.startScaleSidecar(child.hello.XDS, ids[0])
	if err != nil {
		return nil, err
	}
	defer sidecar.stop(5 * time.Second)
	h.log.Info("control plane: connecting ADS clients", "clients", len(ids)-1, "sidecars", 1)
	f, err := dialFleet(ctx, child.hello.XDS, ids[1:])
	if err != nil {
		return nil, err
	}
	defer f.close()
	if err := waitConnected(ctx, child.hello.Admin, spec.Proxies(), h.opts.CPTimeout); err != nil {
		return nil, err
	}
	res := &ControlPlaneResult{Services: spec.Services, Versions: spec.Versions, Proxies: spec.Proxies()}
	if h.opts.Profile {
		profiled := make(chan Profile, 1)
		go func() {
			profiled <- h.profileOne(ctx, "controlplane", child.hello.Pprof, h.tools.CPServer, cpProfileSeconds)
		}()
		defer func() { p := <-profiled; res.Profile = &p }()
	}
	var peak int64
	// The initial sync sends every type; the change flips VirtualService
	// weights, which changes route configurations only.
	for _, step := range []struct {
		command string
		changes []string
		result  *Convergence
	}{{cpsim.CommandPods, adsTypes(), &res.InitialSync}, {cpsim.CommandChange, []string{resource.RouteType}, &res.Change}} {
		c, p, err := h.push(ctx, child, f, step.command, step.changes)
		if err != nil {
			return nil, err
		}
		*step.result, peak = c, max(peak, p)
		if c.Aborted != "" {
			break // the control plane is stopped or still busy: nothing more to measure
		}
	}
	res.PeakRSSMB = float64(peak) / 1e6
	if res.Change.complete() {
		res.Sidecar = h.measureScaleSidecar(ctx, child.hello.Admin, sidecar, ids[0])
	}
	return res, nil
}

// cpProfileSeconds is the length of the control plane's CPU profile,
// taken from the start of the initial sync.
const cpProfileSeconds = 20

// push sends one command and measures how the clients converge on it.
// A push that does not converge within the timeout, or during which the
// control plane's RSS passes the limit, is reported as aborted.
func (h *harness) push(ctx context.Context, child *cpChild, f *fleet, command string, changes []string) (Convergence, int64, error) {
	h.log.Info("control plane: push", "command", command)
	waits := f.expect(changes)
	bytesBefore := f.responseBytes()
	watch, err := watchChild(ctx, child, int64(h.opts.CPMaxRSSMB)*1e6)
	if err != nil {
		return Convergence{}, 0, err
	}
	start := time.Now()
	if _, err := fmt.Fprintln(child.stdin, command); err != nil {
		return Convergence{}, 0, fmt.Errorf("bench: control plane: %w", err)
	}
	c := waitConvergence(watch.ctx, start, waits, h.opts.CPTimeout)
	if c.complete() {
		reply, err := child.reply(h.opts.CPTimeout)
		if err != nil {
			return Convergence{}, 0, err
		}
		c.Compute = reply.Seconds * 1000
	}
	cpu, peak, killed := watch.stop(child)
	switch {
	case killed:
		c.Aborted = fmt.Sprintf("the control plane passed %d MB RSS after %.0f s and was stopped", h.opts.CPMaxRSSMB, time.Since(start).Seconds())
	case !c.complete():
		c.Aborted = fmt.Sprintf("not every proxy converged within %s", h.opts.CPTimeout)
	}
	c.CPUSeconds, c.PeakRSSMB = cpu.Seconds(), float64(peak)/1e6
	c.ResponseMB = float64(f.responseBytes()-bytesBefore) / 1e6
	if err := ctx.Err(); err != nil {
		return c, peak, fmt.Errorf("bench: control plane: %w", err)
	}
	return c, peak, nil
}

// waitConvergence waits until every client converged or the timeout
// passed, and summarises the times from start.
func waitConvergence(ctx context.Context, start time.Time, waits []*convergence, timeout time.Duration) Convergence {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var took []float64
wait:
	for _, w := range waits {
		select {
		case <-w.done:
			took = append(took, ms(w.at.Sub(start).Seconds()))
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	slices.Sort(took)
	return Convergence{P50: percentile(took, 50), P99: percentile(took, 99), Max: percentile(took, 100),
		Converged: len(took), Total: len(waits)}
}

// percentile is the nearest-rank percentile of sorted values (0 if none).
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100 + 0.999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// waitConnected polls the control plane's /debug/syncz until n proxies
// are connected.
func waitConnected(ctx context.Context, admin string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}
	for got := 0; ; time.Sleep(100 * time.Millisecond) {
		var status []struct{ Connected bool }
		resp, err := client.Get("http://" + admin + "/debug/syncz")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&status)
			resp.Body.Close()
		}
		got = 0
		for _, s := range status {
			if s.Connected {
				got++
			}
		}
		switch {
		case got >= n:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("bench: %w", ctx.Err())
		case time.Now().After(deadline):
			return fmt.Errorf("bench: control plane: %d of %d ADS clients connected after %s (last error: %v)", got, n, timeout, err)
		}
	}
}
