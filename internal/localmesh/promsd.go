package localmesh

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/halyard-mesh/halyard/internal/local"
)

// PrometheusTargetsFile is the name, in the state directory, of the
// Prometheus file-based service discovery targets (file_sd_configs).
const PrometheusTargetsFile = "prometheus-targets.json"

// targetGroup is one entry of a Prometheus file_sd JSON file.
type targetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// prometheusTargets lists the control plane's /metrics and every sidecar's
// /stats/prometheus on its stats port (Istio's 15090), one group per pod
// so each carries its pod's labels.
func prometheusTargets(st *local.State) []targetGroup {
	groups := []targetGroup{{
		Targets: []string{st.AdminAddress},
		Labels:  map[string]string{"job": "halyard-controlplane", "__metrics_path__": "/metrics"},
	}}
	for _, p := range st.Pods {
		if p.StatsAddress == "" {
			continue
		}
		labels := map[string]string{
			"job": "halyard-sidecars", "__metrics_path__": "/stats/prometheus",
			"namespace": p.Namespace, "pod": p.Name, "workload": p.Workload,
		}
		for _, k := range []string{"app", "version"} {
			if v := p.Labels[k]; v != "" {
				labels[k] = v
			}
		}
		groups = append(groups, targetGroup{Targets: []string{p.StatsAddress}, Labels: labels})
	}
	return groups
}

// WritePrometheusTargets writes the targets of st into dir, replacing the
// file atomically so that Prometheus never reads half a file.
func WritePrometheusTargets(dir string, st *local.State) error {
	b, err := json.MarshalIndent(prometheusTargets(st), "", "  ")
	if err != nil {
		return fmt.Errorf("up: prometheus targets: %w", err)
	}
	path := filepath.Join(dir, PrometheusTargetsFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("up: prometheus targets: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("up: prometheus targets: %w", err)
	}
	return nil
}
