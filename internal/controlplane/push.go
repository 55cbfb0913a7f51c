package controlplane

import (
	"log/slog"
	"runtime"
	"strings"
	"sync"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/halyard-mesh/halyard/internal/adscache"
	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/registry"
	"github.com/halyard-mesh/halyard/internal/xds"
)

// pusher recomputes the registry and every proxy's snapshot whenever the
// config or the pods change, and sets the snapshots that changed.
type pusher struct {
	cache        *adscache.Cache
	syncz        *syncTracker
	domainSuffix string
	trustDomain  string // of the workload identities; "" for the mesh config's
	jwks         xds.JWKSSource
	log          *slog.Logger

	mu       sync.Mutex // serialises pushes; guards everything below
	cfg      *config.Snapshot
	pods     []registry.Pod
	current  *registry.Model
	versions map[string]string // node ID -> versions last set, joined
	configs  map[string]*xds.ProxyConfig
	builder  *xds.Builder // the last push's
}

func newPusher(c *adscache.Cache, s *syncTracker, domainSuffix string, log *slog.Logger) *pusher {
	return &pusher{cache: c, syncz: s, domainSuffix: domainSuffix, log: log, versions: map[string]string{}, configs: map[string]*xds.ProxyConfig{}}
}

func (p *pusher) setConfig(cfg *config.Snapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	routesOnly := onlyRoutesChanged(p.cfg, cfg)
	p.cfg = cfg
	p.push(routesOnly)
}

// repush recomputes every snapshot from the current config and pods (the
// JWKS fetcher changed some keys).
func (p *pusher) repush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pushLocked()
}

func (p *pusher) setPods(pods []registry.Pod) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pods = pods
	p.pushLocked()
}

func (p *pusher) config() *config.Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg
}

type counts struct{ services, virtualServices int }

// counts returns the sizes the metrics report.
func (p *pusher) counts() counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	var c counts
	if p.current != nil {
		c.services = len(p.current.Services)
	}
	if p.cfg != nil {
		c.virtualServices = len(p.cfg.VirtualServices)
	}
	return c
}

func (p *pusher) model() *registry.Model {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current
}

func (p *pusher) pushLocked() { p.push(false) }

// push rebuilds every proxy's config; routesOnly (nothing but
// VirtualServices changed since the last push) rebuilds only what they
// shape and reuses the rest of the last push's configs.
func (p *pusher) push(routesOnly bool) {
	if p.cfg == nil {
		return
	}
	model, warnings := registry.Build(p.cfg, p.pods, p.domainSuffix)
	for _, w := range warnings {
		p.log.Warn(w)
	}
	p.current = model
	in := &xds.Input{
		Model:               model,
		VirtualServices:     p.cfg.VirtualServices,
		DestinationRules:    p.cfg.DestinationRules,
		DomainSuffix:        p.domainSuffix,
		TrustDomain:         p.trustDomain,
		RootNamespace:       p.cfg.Mesh.GetRootNamespace(),
		Mesh:                p.cfg.Mesh,
		Telemetries:         p.cfg.Telemetries,
		Sidecars:            p.cfg.Sidecars,
		PeerAuthentications: p.cfg.PeerAuthentications,

		RequestAuthentications: p.cfg.RequestAuthentications,
		JWKS:                   p.jwks,
		AuthorizationPolicies:  p.cfg.AuthorizationPolicies,
	}
	p.cache.NewGeneration()
	builder := xds.NewBuilder(in)
	if routesOnly {
		builder.ReuseUnrouted(p.builder, func(id string) *xds.ProxyConfig { return p.configs[id] })
	}
	seen := map[string]bool{}
	var proxies []*registry.Pod
	for i := range model.Pods {
		if pod := &model.Pods[i]; pod.ProxyID != "" {
			seen[pod.ProxyID] = true
			proxies = append(proxies, pod)
		}
	}
	cfgs := make([]*xds.ProxyConfig, len(proxies))
	errs := make([]error, len(proxies))
	parallel(len(proxies), func(i int) { cfgs[i], errs[i] = builder.Config(proxies[i]) })
	for i, pod := range proxies {
		p.setProxyConfig(pod.ProxyID, cfgs[i], errs[i])
	}
	for id := range p.versions {
		if !seen[id] {
			p.cache.Clear(id)
			delete(p.versions, id)
			delete(p.configs, id)
			p.syncz.forget(id)
		}
	}
	p.builder = builder
}

// setProxyConfig sets one proxy's configuration. A proxy whose config could
// not be generated keeps its previous one; the error is logged and shown in
// the sync status.
func (p *pusher) setProxyConfig(id string, cfg *xds.ProxyConfig, err error) {
	if err != nil {
		p.log.Error("xds generation failed; proxy keeps its previous config", "proxy", id, "error", err)
		p.syncz.generationFailed(id, err)
		return
	}
	versions := cfg.Versions()
	version := strings.Join([]string{versions[resource.ListenerType], versions[resource.RouteType],
		versions[resource.ClusterType], versions[resource.EndpointType]}, "/")
	if p.versions[id] == version {
		return
	}
	p.cache.SetConfig(id, cfg)
	p.versions[id] = version
	p.configs[id] = cfg
	p.syncz.pushed(id, versions)
	p.log.Debug("config set", "proxy", id, "version", version)
}

// parallel runs f(0..n-1) on as many goroutines as there are CPUs and
// returns when all are done.
func parallel(n int, f func(int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
