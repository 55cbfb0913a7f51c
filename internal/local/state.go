package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// State is what a running `halyard up` publishes in its state directory so
// that `halyard exec`, `halyard down` and scripts can find the mesh.
type State struct {
	PID          int       `json:"pid"`
	StartedAt    time.Time `json:"startedAt"`
	ConfigPaths  []string  `json:"configPaths"`
	XDSAddress   string    `json:"xdsAddress"`
	AdminAddress string    `json:"adminAddress"`
	CAAddress    string    `json:"caAddress,omitempty"`
	DashboardURL string    `json:"dashboardUrl,omitempty"` // the web UI
	Ready        bool      `json:"ready"`
	Error        string    `json:"error,omitempty"`
	// Capture is "transparent" or "explicit"; NetPrefix starts the name of
	// every namespace and link of a transparent mesh (`down` removes them).
	Capture   string     `json:"capture,omitempty"`
	NetPrefix string     `json:"netPrefix,omitempty"`
	Pods      []PodState `json:"pods"`
}

// PodState is one pod in the state file.
type PodState struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace"`
	Workload        string            `json:"workload"`
	Labels          map[string]string `json:"labels,omitempty"`
	OutboundAddress string            `json:"outboundAddress,omitempty"`
	AdminAddress    string            `json:"adminAddress,omitempty"`
	// StatsAddress serves /stats/prometheus (Istio's 15090) and
	// HealthAddress /healthz/ready (Istio's 15021).
	StatsAddress  string `json:"statsAddress,omitempty"`
	HealthAddress string `json:"healthAddress,omitempty"`
	// IP, Netns, HostsFile and ResolvFile: the pod's address, network
	// namespace, hosts file and resolv.conf in transparent mode.
	IP         string `json:"ip,omitempty"`
	Netns      string `json:"netns,omitempty"`
	HostsFile  string `json:"hostsFile,omitempty"`
	ResolvFile string `json:"resolvFile,omitempty"`
	Ready      bool   `json:"ready"`
	PIDs       []int  `json:"pids,omitempty"`
}

const stateFile = "mesh.json"

// ErrNoMesh means no `halyard up` state was found.
var ErrNoMesh = errors.New("no running mesh found (start one with `halyard up`)")

// DefaultStateDir is $XDG_STATE_HOME/halyard, or ~/.local/state/halyard.
func DefaultStateDir(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "halyard")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "state", "halyard")
	}
	return filepath.Join(os.TempDir(), "halyard")
}

// WriteState replaces the state file atomically.
func WriteState(dir string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("local: state: %w", err)
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("local: state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("local: state: %w", err)
	}
	return nil
}

// ReadState reads the state file; ErrNoMesh when there is none.
func ReadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoMesh
	}
	if err != nil {
		return nil, fmt.Errorf("local: state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("local: state %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &s, nil
}

// RemoveState deletes the state file.
func RemoveState(dir string) error {
	err := os.Remove(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Alive reports whether a process with that pid exists.
func Alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

// Pod finds a pod by "name", "namespace/name", or workload name (its first
// ready replica).
func (s *State) Pod(ref string) (*PodState, bool) {
	for _, match := range []func(p *PodState) bool{
		func(p *PodState) bool { return p.Name == ref || p.Namespace+"/"+p.Name == ref },
		func(p *PodState) bool { return p.Ready && (p.Workload == ref || p.Namespace+"/"+p.Workload == ref) },
	} {
		for i := range s.Pods {
			if match(&s.Pods[i]) {
				return &s.Pods[i], true
			}
		}
	}
	return nil, false
}
