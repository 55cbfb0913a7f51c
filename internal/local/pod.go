package local

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/halyard-mesh/halyard/internal/capture"
	"github.com/halyard-mesh/halyard/internal/podnet"
	"github.com/halyard-mesh/halyard/internal/proxy/procenv"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// pod is one running replica: its container processes and its sidecar.
type pod struct {
	spec    podSpec
	status  registry.Pod // addresses fixed at creation; Ready changes
	procs   []procSpec
	probes  []func(context.Context) bool
	running []atomic.Bool // per process: between start and exit
	pids    []atomic.Int64
	created time.Time
	net     *podnet.Pod // transparent mode: the pod's network namespace

	mu     sync.Mutex
	ready  bool
	cancel context.CancelFunc
	done   chan struct{}

	// With a sidecar identity: called on every probe tick; the pod's
	// private directory, removed when it stops; when the token was minted.
	onTick  func()
	privDir string
	tokenAt time.Time
}

// proxyNodeID is the xDS node ID of a pod's sidecar, in Istio's format.
func proxyNodeID(ip, name, namespace string) string {
	return fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", ip, name, namespace, namespace)
}

// newPod allocates the pod's addresses and builds its process specs. In
// transparent mode it also creates the pod's network namespace, which the
// caller removes if newPod fails.
func (r *Runner) newPod(spec podSpec) (*pod, error) {
	p := &pod{spec: spec, created: r.opts.Now()}
	p.status = registry.Pod{
		Name: spec.Name, Namespace: spec.Namespace, Workload: spec.Workload,
		ServiceAccount: spec.ServiceAccount, Labels: spec.Labels,
	}
	if err := r.podAddresses(p); err != nil {
		return p, err
	}
	for _, c := range spec.Containers {
		if err := r.addContainer(p, c); err != nil {
			return p, err
		}
	}
	if spec.Sidecar && r.opts.Identity != nil {
		if err := r.writeToken(p); err != nil {
			return p, err
		}
		p.privDir, p.onTick = r.podDir(p), func() { r.identityTick(p) }
	}
	if spec.Sidecar {
		p.procs = append(p.procs, r.sidecarProc(p))
		p.probes = append(p.probes, httpProbe("http://"+p.status.HealthAddress+"/healthz/ready"))
	}
	if r.opts.Transparent != nil {
		for i := range p.procs {
			p.procs[i] = r.inPod(p, p.procs[i])
		}
	}
	p.running = make([]atomic.Bool, len(p.procs))
	p.pids = make([]atomic.Int64, len(p.procs))
	return p, nil
}

// podAddresses gives the pod its network namespace (transparent mode) or
// its sidecar's loopback ports (explicit mode).
func (r *Runner) podAddresses(p *pod) error {
	if r.opts.Transparent != nil {
		if err := r.setupPodNetwork(p); err != nil {
			return err
		}
		if p.spec.Sidecar {
			p.status.ProxyID = proxyNodeID(p.status.IP, p.spec.Name, p.spec.Namespace)
		}
		return nil
	}
	var err error
	if p.spec.Sidecar {
		p.status.ProxyID = proxyNodeID("127.0.0.1", p.spec.Name, p.spec.Namespace)
		if p.status.OutboundAddress, err = r.ports.next(); err != nil {
			return err
		}
		for _, a := range []*string{&p.status.AdminAddress, &p.status.StatsAddress, &p.status.HealthAddress} {
			if *a, err = r.ports.next(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Runner) addContainer(p *pod, c corev1.Container) error {
	env := r.baseEnv(p)
	appAddrs := map[string]string{} // container port name or number -> app address
	for i, cp := range c.Ports {
		pp, err := r.podPort(p, uint32(cp.ContainerPort), cp.Name)
		if err != nil {
			return err
		}
		p.status.Ports = append(p.status.Ports, pp)
		app := pp.AppAddress
		if r.opts.Transparent != nil {
			app = net.JoinHostPort(p.status.IP, fmt.Sprint(cp.ContainerPort)) // probes come from the host
		}
		_, port, _ := net.SplitHostPort(pp.AppAddress)
		if i == 0 {
			env = append(env, "PORT="+port)
		}
		if cp.Name != "" {
			env = append(env, "PORT_"+envName(cp.Name)+"="+port)
			appAddrs[cp.Name] = app
		}
		appAddrs[fmt.Sprint(cp.ContainerPort)] = app
	}
	if len(c.Ports) == 0 {
		port := fmt.Sprint(defaultAppPort)
		if r.opts.Transparent == nil {
			app, err := r.ports.next()
			if err != nil {
				return err
			}
			_, port, _ = net.SplitHostPort(app)
		}
		env = append(env, "PORT="+port)
	}
	allocated := envLookup(env)
	for _, e := range c.Env {
		if _, ok := allocated(e.Name); ok && strings.HasPrefix(e.Name, "PORT") {
			continue // locally the allocated port wins over the cluster's fixed one
		}
		env = append(env, e.Name+"="+Expand(e.Value, envLookup(env)))
	}
	lookup := envLookup(env)
	argv := append(append([]string(nil), c.Command...), c.Args...)
	for i := range argv {
		argv[i] = Expand(argv[i], lookup)
	}
	if len(argv) == 0 {
		return fmt.Errorf("local: pod %s container %q: no command", p.spec.Name, c.Name)
	}
	path, err := lookPath(argv[0], r.opts.PathPrefix, env)
	if err != nil {
		return fmt.Errorf("local: pod %s container %q: %w", p.spec.Name, c.Name, err)
	}
	p.procs = append(p.procs, procSpec{
		Name: p.spec.Name + "/" + c.Name, Path: path, Args: argv[1:], Env: env, Dir: r.opts.WorkDir,
		LogPath: filepath.Join(r.logDir(), p.spec.Namespace+"."+p.spec.Name+"."+c.Name+".log"),
	})
	p.probes = append(p.probes, containerProbe(c, appAddrs))
	return nil
}

// podPort allocates where a container port listens and is reached.
func (r *Runner) podPort(p *pod, cp uint32, name string) (registry.PodPort, error) {
	if r.opts.Transparent != nil {
		return transparentPort(p, cp, name), nil
	}
	app, err := r.ports.next()
	if err != nil {
		return registry.PodPort{}, err
	}
	pp := registry.PodPort{Name: name, ContainerPort: cp, AppAddress: app}
	if p.spec.Sidecar {
		if pp.InboundAddress, err = r.ports.next(); err != nil {
			return registry.PodPort{}, err
		}
	}
	return pp, nil
}

func (r *Runner) sidecarProc(p *pod) procSpec {
	args := []string{
		"--xds-address", r.opts.XDSAddress,
		"--node-id", p.status.ProxyID,
		"--admin-address", p.status.AdminAddress,
		"--stats-address", p.status.StatsAddress,
		"--health-address", p.status.HealthAddress,
		"--metadata", "NAMESPACE=" + p.spec.Namespace,
		"--metadata", "SERVICE_ACCOUNT=" + p.spec.ServiceAccount,
		"--metadata", "WORKLOAD_NAME=" + p.spec.Workload,
		"--metadata", "POD_NAME=" + p.spec.Name,
	}
	if r.opts.Identity != nil {
		args = append(args, r.sidecarIdentityArgs(p)...)
	}
	if len(p.spec.Labels) > 0 {
		args = append(args, "--metadata", "LABELS="+labelList(p.spec.Labels))
	}
	ps := procSpec{
		Name: p.spec.Name + "/halyard-proxy", Path: r.opts.ProxyBinary, Args: args,
		Env: append(r.systemEnv(), procenv.Env()...), Dir: r.opts.WorkDir,
		LogPath: filepath.Join(r.logDir(), p.spec.Namespace+"."+p.spec.Name+".halyard-proxy.log"),
	}
	if r.opts.Transparent != nil {
		ps.GID = capture.ProxyGID // its sockets are not captured
	}
	return ps
}

// baseEnv is a container's environment before its own env entries:
// what a process needs to run on this machine, the pod's identity, and the
// proxy variables that send its outbound HTTP through the sidecar.
func (r *Runner) baseEnv(p *pod) []string {
	env := append(r.systemEnv(),
		"HOSTNAME="+p.spec.Name,
		"POD_NAME="+p.spec.Name,
		"POD_NAMESPACE="+p.spec.Namespace,
	)
	if p.spec.Sidecar && p.status.OutboundAddress != "" {
		proxy := "http://" + p.status.OutboundAddress
		env = append(env,
			"HTTP_PROXY="+proxy, "http_proxy="+proxy,
			"HTTPS_PROXY="+proxy, "https_proxy="+proxy,
			"NO_PROXY=localhost,127.0.0.1,::1", "no_proxy=localhost,127.0.0.1,::1",
		)
	}
	return env
}

func (r *Runner) systemEnv() []string {
	var env []string
	path := strings.Join(append(slicesClone(r.opts.PathPrefix), r.opts.Getenv("PATH")), string(filepath.ListSeparator))
	env = append(env, "PATH="+path)
	for _, k := range []string{"HOME", "USER", "LANG", "TZ", "TMPDIR", "GOCOVERDIR"} {
		if v := r.opts.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func envName(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(s))
}

// containerProbe follows the container's readinessProbe (httpGet or
// tcpSocket) and otherwise checks that its first port accepts connections.
func containerProbe(c corev1.Container, appAddrs map[string]string) func(context.Context) bool {
	resolve := func(port intstr.IntOrString) string { return appAddrs[port.String()] }
	if rp := c.ReadinessProbe; rp != nil {
		switch {
		case rp.HTTPGet != nil:
			return httpProbe("http://" + resolve(rp.HTTPGet.Port) + "/" + strings.TrimPrefix(rp.HTTPGet.Path, "/"))
		case rp.TCPSocket != nil:
			return tcpProbe(resolve(rp.TCPSocket.Port))
		}
	}
	if len(c.Ports) > 0 {
		return tcpProbe(appAddrs[fmt.Sprint(c.Ports[0].ContainerPort)])
	}
	return func(context.Context) bool { return true }
}

var probeClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

func httpProbe(url string) func(context.Context) bool {
	return func(ctx context.Context) bool {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := probeClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 400
	}
}

func tcpProbe(addr string) func(context.Context) bool {
	return func(ctx context.Context) bool {
		var d net.Dialer
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	}
}

// run supervises the pod's processes and probes its readiness until ctx is
// done; changed is called whenever readiness flips.
func (p *pod) run(ctx context.Context, log *slog.Logger, changed func(p *pod)) {
	var wg sync.WaitGroup
	for i, spec := range p.procs {
		wg.Go(func() {
			supervise(ctx, spec, log,
				func(pid int) { p.pids[i].Store(int64(pid)); p.running[i].Store(true) },
				func(error) { p.running[i].Store(false); p.pids[i].Store(0) })
		})
	}
	interval := 50 * time.Millisecond
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ready := p.probe(ctx)
		if p.setReady(ready) {
			changed(p)
		}
		if ready && interval < 500*time.Millisecond {
			interval = 500 * time.Millisecond
			tick.Reset(interval)
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			if p.privDir != "" {
				_ = os.RemoveAll(p.privDir)
			}
			return
		case <-tick.C:
		}
		if p.onTick != nil {
			p.onTick()
		}
	}
}

func (p *pod) probe(ctx context.Context) bool {
	for i := range p.running {
		if !p.running[i].Load() {
			return false
		}
	}
	for _, probe := range p.probes {
		if !probe(ctx) {
			return false
		}
	}
	return true
}

func (p *pod) setReady(ready bool) (changed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	changed, p.ready = p.ready != ready, ready
	return changed
}

// snapshot returns the pod's registry view and its process ids.
func (p *pod) snapshot() (registry.Pod, []int) {
	p.mu.Lock()
	st := p.status
	st.Ready = p.ready
	p.mu.Unlock()
	var pids []int
	for i := range p.pids {
		if pid := p.pids[i].Load(); pid != 0 {
			pids = append(pids, int(pid))
		}
	}
	return st, pids
}

// labelList renders pod labels as the proxy's LABELS metadata:
// "k=v,k=v", sorted by key (label values cannot hold commas).
func labelList(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for k, v := range labels {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}
