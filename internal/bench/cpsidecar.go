package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// startScaleSidecar starts a real sidecar as one of the control-plane
// run's proxies. Its listeners bind the synthetic pod's addresses, which
// nothing else uses.
func (h *harness) startScaleSidecar(xds, nodeID string) (*proc, error) {
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	argv := []string{h.tools.Proxy, "--xds-address", xds, "--node-id", nodeID, "--admin-address", admin,
		"--stats-address", "", "--health-address", "", "--log-level", "warn"}
	return startProc("scale-sidecar", argv, os.Environ(), h.work, filepath.Join(h.logs, "scale-sidecar.log"))
}

// measureScaleSidecar waits until the control plane reports every type of
// the sidecar ACKed at its latest version, then reads its peak RSS.
func (h *harness) measureScaleSidecar(ctx context.Context, cpAdmin string, p *proc, nodeID string) *ScaleSidecar {
	res := &ScaleSidecar{}
	deadline := time.Now().Add(h.opts.CPTimeout)
	for !res.Synced {
		synced, err := proxySynced(cpAdmin, nodeID)
		switch {
		case synced:
			res.Synced = true
			continue
		case p.exited():
			res.Error = fmt.Sprintf("the sidecar exited: %v", p.err)
			return res
		case ctx.Err() != nil || time.Now().After(deadline):
			res.Error = fmt.Sprintf("not synced after %s (last error: %v)", h.opts.CPTimeout, err)
			return res
		}
		time.Sleep(100 * time.Millisecond)
	}
	s, err := readProc(p.PID())
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.PeakRSSMB = float64(s.PeakRSS) / 1e6
	return res
}

// proxySynced reads the control plane's /debug/syncz for one proxy.
func proxySynced(admin, nodeID string) (bool, error) {
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + admin + "/debug/syncz")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var status []struct {
		ID    string
		Types map[string]struct{ Want, Acked string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		return false, err
	}
	for _, s := range status {
		if s.ID != nodeID {
			continue
		}
		for _, t := range s.Types {
			if t.Want == "" || t.Acked != t.Want {
				return false, nil
			}
		}
		return len(s.Types) > 0, nil
	}
	return false, nil
}
