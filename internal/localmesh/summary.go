package localmesh

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/halyard-mesh/halyard/internal/controlplane"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// waitReady waits until every pod is ready and every sidecar has the
// configuration that routes to all of them, then marks the state ready and
// prints the summary; if that takes longer than ReadyTimeout it says which
// pods are not ready and records the reason in the state file.
func (m *mesh) waitReady(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(m.opts.ReadyTimeout)
	defer deadline.Stop()
	for {
		pods := m.runner.Pods()
		notReady := notReadyPods(pods)
		if len(notReady) == 0 {
			notReady = m.unsynced(pods)
		}
		if len(pods) > 0 && len(notReady) == 0 {
			m.mu.Lock()
			m.state.Ready, m.state.Error = true, ""
			m.mu.Unlock()
			m.writeState()
			m.printSummary(pods)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-deadline.C:
			msg := fmt.Sprintf("not ready after %s: %s (logs in %s/logs)", m.opts.ReadyTimeout, strings.Join(notReady, ", "), m.opts.StateDir)
			m.mu.Lock()
			m.state.Error = msg
			m.mu.Unlock()
			m.writeState()
			m.printf("%s\n", msg)
		}
	}
}

// unsynced lists the pods whose sidecar has not yet ACKed the
// configuration the control plane computed with every pod ready ("ns/name
// (config sync)"); a pod that just became ready is only an endpoint in the
// others' configs once they have ACKed it.
func (m *mesh) unsynced(pods []registry.Pod) []string {
	model := m.cp.Model()
	ready := 0
	if model != nil {
		for _, p := range model.Pods {
			if p.Ready {
				ready++
			}
		}
	}
	synced := map[string]bool{}
	for _, st := range m.cp.SyncStatus() {
		synced[st.ID] = hasConfig(st)
	}
	var out []string
	for _, p := range pods {
		if p.ProxyID != "" && (ready != len(pods) || !synced[p.ProxyID]) {
			out = append(out, p.Namespace+"/"+p.Name+" (config sync)")
		}
	}
	return out
}

// hasConfig reports whether a sidecar has ACKed the listeners and
// clusters last set for it, and the routes and endpoints it subscribes to
// (a sidecar with no HTTP port, say, asks for no routes).
func hasConfig(st controlplane.ProxyStatus) bool {
	if !st.Connected || st.Types["LDS"] == nil || st.Types["CDS"] == nil {
		return false
	}
	for name, t := range st.Types {
		subscribed := name == "LDS" || name == "CDS" || t.Sent != ""
		if subscribed && (t.Want == "" || t.Acked != t.Want) {
			return false
		}
	}
	return true
}

func notReadyPods(pods []registry.Pod) []string {
	var out []string
	for _, p := range pods {
		if !p.Ready {
			out = append(out, p.Namespace+"/"+p.Name)
		}
	}
	return out
}

func (m *mesh) printSummary(pods []registry.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(m.out, "\nmesh ready in %s: %d pods\n\n", time.Since(m.started).Round(time.Millisecond), len(pods))
	writeServices(m.out, m.cp.Model())
	fmt.Fprintf(m.out, "\nadmin:   http://%s/debug/syncz\n", m.cp.AdminAddress())
	fmt.Fprintf(m.out, "ui:      %s\n", m.state.DashboardURL)
	fmt.Fprintf(m.out, "metrics: http://%s/metrics, Prometheus targets in %s\n", m.cp.AdminAddress(), filepath.Join(m.opts.StateDir, PrometheusTargetsFile))
	fmt.Fprintf(m.out, "logs:    %s/logs\n", m.opts.StateDir)
	fmt.Fprintf(m.out, "try:     halyard exec -- curl -s http://<service>:<port>/\n")
	fmt.Fprintf(m.out, "stop:    Ctrl-C (or halyard down)\n\n")
}

// writeServices prints one line per service port: its versions and endpoints.
func writeServices(out io.Writer, model *registry.Model) {
	if model == nil {
		return
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tPORT\tPROTOCOL\tVERSIONS\tENDPOINTS")
	for _, svc := range model.Services {
		for _, p := range svc.Ports {
			eps := model.Endpoints(svc.Hostname, p.Port)
			var versions, addrs []string
			for _, ep := range eps {
				if v := ep.Labels["version"]; v != "" && !slices.Contains(versions, v) {
					versions = append(versions, v)
				}
				addrs = append(addrs, fmt.Sprintf("%s:%d", ep.Address, ep.Port))
			}
			slices.Sort(versions)
			name := svc.Hostname
			if svc.Kubernetes {
				name = svc.Name + "." + svc.Namespace
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", name, p.Port, p.Protocol,
				orDash(strings.Join(versions, ",")), orDash(strings.Join(addrs, " ")))
		}
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
