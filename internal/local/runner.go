// Package local runs a mesh on one machine: each Deployment replica becomes a
// "pod" of local processes (its containers' command/args, plus a sidecar),
// with ports allocated on the loopback interface. The runner reports pods to
// the control plane as they start and become ready; it never outlives the
// context it was created with.
package local

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// Options configure a Runner.
type Options struct {
	StateDir    string   // logs go to StateDir/logs
	WorkDir     string   // containers' working directory
	ProxyBinary string   // path of halyard-proxy
	XDSAddress  string   // the control plane's ADS address
	PathPrefix  []string // searched before PATH for container commands
	Clients     []ClientPod
	// Transparent runs every pod in its own network namespace with its
	// traffic captured; nil is explicit mode (loopback ports, HTTP_PROXY).
	Transparent *Transparent
	// Identity, when set, gives every sidecar a bootstrap token and the
	// CA's address so it obtains a workload certificate.
	Identity *SidecarIdentity
	Logger   *slog.Logger
	Now      func() time.Time
	Getenv   func(string) string // the host environment (os.Getenv)
	// OnPods receives the full pod list whenever it or a pod's readiness
	// changes. Calls are serialised and coalesced: the last call has the
	// latest state.
	OnPods func([]registry.Pod)
	// OnEvent reports progress: a pod created, ready, not ready, stopped.
	OnEvent func(Event)
}

// Event is one step in a pod's life.
type Event struct {
	Pod     string // namespace/name
	Kind    string // created, ready, unready, stopped, error
	After   time.Duration
	Message string
}

// Runner runs the pods of the current config.
type Runner struct {
	opts  Options
	log   *slog.Logger
	ports *portAllocator
	vips  *vipTable // transparent mode
	ctx   context.Context
	wg    sync.WaitGroup

	mu   sync.Mutex
	pods map[string]*pod

	notify chan struct{}
}

// New returns a runner whose pods live until ctx is done. Call Wait after
// cancelling ctx to wait for every process to exit.
func New(ctx context.Context, opts Options) (*Runner, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	r := &Runner{
		opts: opts, log: opts.Logger.With("component", "local"),
		ports: newPortAllocator("127.0.0.1"), ctx: ctx,
		pods: map[string]*pod{}, notify: make(chan struct{}, 1),
	}
	if err := os.MkdirAll(r.logDir(), 0o755); err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	if t := opts.Transparent; t != nil {
		if t.Network == nil || len(t.PodExec) == 0 || !t.ServiceCIDR.IsValid() {
			return nil, fmt.Errorf("local: transparent mode needs a pod network, a service range and the pod-exec command")
		}
		r.vips = newVIPTable(t.ServiceCIDR)
	}
	r.wg.Go(r.notifier)
	return r, nil
}

func (r *Runner) logDir() string { return filepath.Join(r.opts.StateDir, "logs") }

// Apply makes the running pods match the config: new pods start, removed
// ones stop, and pods whose template changed restart.
func (r *Runner) Apply(cfg *config.Snapshot) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		return nil
	}
	specs := desiredPods(cfg, r.opts.Clients)
	want := map[string]podSpec{}
	for _, s := range specs {
		want[s.key()] = s
	}
	if r.opts.Transparent != nil {
		if err := r.writeHostsFiles(cfg, podNamespaces(specs)); err != nil {
			return err
		}
	}
	for key, p := range r.pods {
		if s, ok := want[key]; !ok || s.Hash != p.spec.Hash {
			r.stopLocked(key, p)
		}
	}
	var errs []error
	for key, s := range want {
		if _, ok := r.pods[key]; ok {
			continue
		}
		p, err := r.newPod(s)
		if err != nil {
			r.removePodNetwork(key, p)
			errs = append(errs, err)
			r.event(Event{Pod: key, Kind: "error", Message: err.Error()})
			continue
		}
		r.startLocked(key, p)
	}
	r.kick()
	if len(errs) > 0 {
		return fmt.Errorf("local: %d pod(s) could not start; first: %w", len(errs), errs[0])
	}
	return nil
}

func (r *Runner) startLocked(key string, p *pod) {
	ctx, cancel := context.WithCancel(r.ctx)
	p.cancel, p.done = cancel, make(chan struct{})
	r.pods[key] = p
	r.event(Event{Pod: key, Kind: "created"})
	r.wg.Go(func() {
		defer close(p.done)
		defer r.removePodNetwork(key, p)
		p.run(ctx, r.log, func(p *pod) {
			kind := "unready"
			if st, _ := p.snapshot(); st.Ready {
				kind = "ready"
			}
			r.event(Event{Pod: key, Kind: kind, After: r.opts.Now().Sub(p.created)})
			r.kick()
		})
	})
}

func (r *Runner) stopLocked(key string, p *pod) {
	delete(r.pods, key)
	p.cancel()
	r.wg.Go(func() {
		<-p.done
		r.event(Event{Pod: key, Kind: "stopped"})
		r.kick()
	})
}

// Pods returns every pod's registry view, sorted by namespace and name.
func (r *Runner) Pods() []registry.Pod {
	pods, _ := r.PodsWithPIDs()
	return pods
}

// PodsWithPIDs returns the pods and, per pod, the pids of its processes.
func (r *Runner) PodsWithPIDs() ([]registry.Pod, [][]int) {
	r.mu.Lock()
	list := make([]*pod, 0, len(r.pods))
	for _, p := range r.pods {
		list = append(list, p)
	}
	r.mu.Unlock()
	slices.SortFunc(list, func(a, b *pod) int {
		return cmp.Or(cmp.Compare(a.spec.Namespace, b.spec.Namespace), cmp.Compare(a.spec.Name, b.spec.Name))
	})
	pods := make([]registry.Pod, len(list))
	pids := make([][]int, len(list))
	for i, p := range list {
		pods[i], pids[i] = p.snapshot()
	}
	return pods, pids
}

// Wait blocks until every pod has stopped (after the context is done).
func (r *Runner) Wait() { r.wg.Wait() }

// removePodNetwork deletes a stopped pod's namespace (transparent mode).
func (r *Runner) removePodNetwork(key string, p *pod) {
	if p.net == nil {
		return
	}
	if err := p.net.Remove(); err != nil {
		r.event(Event{Pod: key, Kind: "error", Message: err.Error()})
	}
}

func (r *Runner) kick() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *Runner) notifier() {
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.notify:
			if r.opts.OnPods != nil {
				r.opts.OnPods(r.Pods())
			}
		}
	}
}

func (r *Runner) event(e Event) {
	r.log.Debug("pod event", "pod", e.Pod, "kind", e.Kind, "message", e.Message)
	if r.opts.OnEvent != nil {
		r.opts.OnEvent(e)
	}
}
