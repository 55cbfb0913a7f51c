// Package localmesh is the embedded mesh behind `halyard up`: it loads and
// watches the config files, runs the control plane and the local runner,
// keeps the state file current and tells the user what is happening.
package localmesh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/controlplane"
	"github.com/halyard-mesh/halyard/internal/dashboard"
	"github.com/halyard-mesh/halyard/internal/local"
	"github.com/halyard-mesh/halyard/internal/podnet"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// ExecClient is the sidecar-only pod `halyard exec` uses by default.
var ExecClient = local.ClientPod{Name: "halyard-exec", Namespace: "default", ServiceAccount: "default"}

// Options configure Run.
type Options struct {
	Paths        []string
	StateDir     string
	WorkDir      string
	XDSAddress   string
	AdminAddress string
	CAAddress    string // the CA's TLS gRPC address
	// CACertsDir, when set, holds a plugged-in CA in Istio's cacerts
	// layout; otherwise a self-signed root is kept in StateDir/ca.
	CACertsDir      string
	TrustDomain     string        // cluster.local by default
	WorkloadCertTTL time.Duration // 24h by default
	// OnCertIssued, when set, is called with the SPIFFE ID of every
	// workload certificate the CA issues.
	OnCertIssued func(spiffeID string)
	// JWKSRefresh is how often RequestAuthentication jwksUris are fetched
	// again (20 minutes by default).
	JWKSRefresh time.Duration
	ProxyBinary string
	PathPrefix  []string
	// Capture is auto, transparent or explicit (see capture.go); PodCIDR,
	// ServiceCIDR and NetPrefix (a fresh one when empty) configure
	// transparent mode, and PodExec is the argv prefix of the pod-exec
	// helper (["/path/halyard", "pod-exec"]).
	Capture              string
	PodCIDR, ServiceCIDR netip.Prefix
	NetPrefix            string
	PodExec              []string
	ReadyTimeout         time.Duration // how long to wait for every pod before saying so
	PollInterval         time.Duration // config file polling; 200ms by default
	Out                  io.Writer     // progress and summary
	Logger               *slog.Logger
	Getenv               func(string) string
}

// Run runs the mesh until ctx is done, then stops every process it started.
func Run(ctx context.Context, o Options) error {
	if o.PollInterval == 0 {
		o.PollInterval = 200 * time.Millisecond
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 2 * time.Minute
	}
	m := &mesh{opts: o, out: o.Out, started: time.Now(), running: make(chan struct{})}
	return m.run(ctx)
}

type mesh struct {
	opts    Options
	out     io.Writer
	started time.Time
	cp      *controlplane.Server
	runner  *local.Runner
	running chan struct{} // closed once the mesh runs and takes changes

	mu        sync.Mutex // guards state and printing
	state     local.State
	lastDiags string
}

func (m *mesh) run(ctx context.Context) error {
	if err := m.refuseSecondMesh(); err != nil {
		return err
	}
	if err := os.MkdirAll(m.opts.StateDir, 0o755); err != nil {
		return fmt.Errorf("up: state dir: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var bg sync.WaitGroup // goroutines started here; waited for last
	defer bg.Wait()
	defer cancel()
	// The watcher's first call is the initial load; later calls are changes,
	// applied once everything below is running.
	initial := make(chan *config.Snapshot, 1)
	bg.Go(func() { config.Watch(ctx, m.opts.Paths, m.opts.PollInterval, m.onFiles(ctx, initial)) })
	var cfg *config.Snapshot
	select {
	case cfg = <-initial:
	case <-ctx.Done():
		return nil
	}
	if cfg == nil {
		return fmt.Errorf("up: the configuration has errors (see above)")
	}

	cs, err := m.chooseCapture()
	if err != nil {
		return err
	}
	m.state = local.State{PID: os.Getpid(), StartedAt: m.started, ConfigPaths: m.opts.Paths, Capture: CaptureExplicit}
	if cs.network != nil {
		// Recorded before anything is created, so that `halyard down` can
		// remove it if this process is killed.
		m.state.NetPrefix = cs.network.Prefix()
		m.writeState()
	}
	defer local.RemoveState(m.opts.StateDir)
	if err := m.setupNetwork(cs); err != nil {
		return err
	}
	if cs.network != nil {
		m.state.Capture = CaptureTransparent
		defer m.closeNetwork(cs.network)
	} else {
		m.state.NetPrefix = "" // fell back to explicit mode: nothing was created
	}
	xdsAddr, err := podReachable("--xds-address", m.opts.XDSAddress, cs)
	if err != nil {
		return err
	}
	caAddr, err := podReachable("--ca-address", m.opts.CAAddress, cs)
	if err != nil {
		return err
	}
	meshCA, err := newMeshCA(m.opts)
	if err != nil {
		return err
	}
	m.cp = controlplane.New(controlplane.Options{
		XDSAddress: xdsAddr, AdminAddress: m.opts.AdminAddress, Logger: m.opts.Logger,
		CA: meshCA.controlPlaneOptions(caAddr), JWKSRefresh: m.opts.JWKSRefresh,
	})
	if err := m.cp.Listen(); err != nil {
		return err
	}
	m.startDashboard(ctx, &bg)
	cpDone := make(chan error, 1)
	bg.Go(func() { cpDone <- m.cp.Run(ctx) })
	m.state.XDSAddress, m.state.AdminAddress, m.state.CAAddress = m.cp.XDSAddress(), m.cp.AdminAddress(), m.cp.CAAddress()
	m.state.DashboardURL = "http://" + m.cp.AdminAddress() + dashboard.Path
	m.writeState()
	defer os.Remove(filepath.Join(m.opts.StateDir, PrometheusTargetsFile))

	runner, err := local.New(ctx, local.Options{
		StateDir: m.opts.StateDir, WorkDir: m.opts.WorkDir, ProxyBinary: m.opts.ProxyBinary,
		XDSAddress: m.cp.XDSAddress(), PathPrefix: m.opts.PathPrefix, Transparent: m.transparentOptions(cs),
		Clients: []local.ClientPod{ExecClient}, Logger: m.opts.Logger, Getenv: m.opts.Getenv,
		Identity: meshCA.sidecarIdentity(m.cp.CAAddress()),
		OnPods:   m.podsChanged, OnEvent: m.podEvent,
	})
	if err != nil {
		return err
	}
	m.runner = runner
	defer runner.Wait()
	defer cancel()

	m.printf("%s\n", cs.line)
	m.printf("control plane: xds %s, admin http://%s, ca %s (%s)\n", m.cp.XDSAddress(), m.cp.AdminAddress(), m.cp.CAAddress(), caSource(m.opts))
	m.cp.SetConfig(cfg)
	if err := runner.Apply(cfg); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	bg.Go(func() { m.waitReady(ctx) })
	close(m.running)

	select {
	case <-ctx.Done():
		m.printf("stopping: every process of the mesh is being stopped\n")
		return nil
	case err := <-cpDone:
		return err
	}
}

// onFiles returns the watcher's callback: its first call is the initial
// load, handed to run; later calls are changes, applied once the mesh runs.
func (m *mesh) onFiles(ctx context.Context, initial chan<- *config.Snapshot) func(*config.Snapshot, []config.Diagnostic) {
	first := true
	return func(cfg *config.Snapshot, diags []config.Diagnostic) {
		if first {
			first = false
			m.printDiagnostics(diags)
			initial <- cfg
			return
		}
		select {
		case <-m.running:
			m.configChanged(cfg, diags)
		case <-ctx.Done():
		}
	}
}

// refuseSecondMesh fails when another live `halyard up` owns the state dir.
func (m *mesh) refuseSecondMesh() error {
	st, err := local.ReadState(m.opts.StateDir)
	if errors.Is(err, local.ErrNoMesh) || err != nil {
		return nil
	}
	if local.Alive(st.PID) && st.PID != os.Getpid() {
		return fmt.Errorf("up: a mesh is already running from %s (pid %d); stop it with `halyard down`", m.opts.StateDir, st.PID)
	}
	return nil
}

// configChanged is called by the watcher with every new version of the files.
func (m *mesh) configChanged(cfg *config.Snapshot, diags []config.Diagnostic) {
	m.printDiagnostics(diags)
	if cfg == nil {
		m.cp.Metrics().ConfigRejected()
		m.printf("config rejected: keeping the last good configuration\n")
		return
	}
	m.cp.SetConfig(cfg)
	if err := m.runner.Apply(cfg); err != nil {
		m.printf("config applied with errors: %v\n", err)
		return
	}
	m.printf("config applied (%s)\n", time.Now().Format("15:04:05.000"))
}

func (m *mesh) podsChanged(pods []registry.Pod) {
	m.cp.SetPods(pods)
	m.writeState()
}

func (m *mesh) podEvent(e local.Event) {
	switch e.Kind {
	case "ready":
		m.printf("  ready    %-40s %s\n", e.Pod, e.After.Round(time.Millisecond))
	case "unready":
		m.printf("  unready  %s\n", e.Pod)
	case "error":
		m.printf("  error    %s: %s\n", e.Pod, e.Message)
	case "created":
		m.printf("  starting %s\n", e.Pod)
	case "stopped":
		m.printf("  stopped  %s\n", e.Pod)
	}
}

func (m *mesh) printDiagnostics(diags []config.Diagnostic) {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if b.String() == m.lastDiags {
		return // already shown
	}
	m.lastDiags = b.String()
	fmt.Fprint(m.out, b.String())
}

func (m *mesh) printf(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(m.out, format, args...)
}

// podStates lists the runner's pods for the state file; false before the
// runner exists.
func (m *mesh) podStates() ([]local.PodState, bool) {
	r := m.runner
	if r == nil {
		return nil, false
	}
	pods, pids := r.PodsWithPIDs()
	out := make([]local.PodState, 0, len(pods))
	for i, p := range pods {
		out = append(out, local.PodState{
			Name: p.Name, Namespace: p.Namespace, Workload: p.Workload, Labels: p.Labels,
			OutboundAddress: p.OutboundAddress, AdminAddress: p.AdminAddress, StatsAddress: p.StatsAddress,
			HealthAddress: p.HealthAddress, Ready: p.Ready, PIDs: pids[i],
			IP: p.IP, Netns: r.NetnsPath(p.Namespace + "/" + p.Name),
			HostsFile: r.HostsFile(p.Namespace), ResolvFile: r.ResolvFile(p.Namespace),
		})
	}
	return out, true
}

// closeNetwork removes the bridge and whatever pod namespace is left.
func (m *mesh) closeNetwork(n *podnet.Network) {
	if err := n.Close(); err != nil {
		m.printf("cleanup: %v (run `halyard down`)\n", err)
	}
}

// writeState publishes the pods and their addresses for exec and down.
func (m *mesh) writeState() {
	// The runner's lock is taken before, never under, m.mu: the runner
	// reports events (which print under m.mu) while holding its own.
	pods, ok := m.podStates()
	m.mu.Lock()
	defer m.mu.Unlock()
	if ok {
		m.state.Pods = pods
	}
	if err := local.WriteState(m.opts.StateDir, &m.state); err != nil {
		m.opts.Logger.Error("write state", "error", err)
	}
	if err := WritePrometheusTargets(m.opts.StateDir, &m.state); err != nil {
		m.opts.Logger.Error("write prometheus targets", "error", err)
	}
}
