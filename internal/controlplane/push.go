package controlplane

import (
	"context"
	"log/slog"
	"sync"

	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/registry"
	"github.com/halyard-mesh/halyard/internal/xds"
)

// pusher recomputes the registry and every proxy's snapshot whenever the
// config or the pods change, and sets the snapshots that changed.
type pusher struct {
	cache        cache.SnapshotCache
	syncz        *syncTracker
	domainSuffix string
	log          *slog.Logger

	mu       sync.Mutex // serialises pushes; guards everything below
	cfg      *config.Snapshot
	pods     []registry.Pod
	current  *registry.Model
	versions map[string]string // node ID -> version last set
}

func newPusher(c cache.SnapshotCache, s *syncTracker, domainSuffix string, log *slog.Logger) *pusher {
	return &pusher{cache: c, syncz: s, domainSuffix: domainSuffix, log: log, versions: map[string]string{}}
}

func (p *pusher) setConfig(cfg *config.Snapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg = cfg
	p.pushLocked()
}

func (p *pusher) setPods(pods []registry.Pod) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pods = pods
	p.pushLocked()
}

func (p *pusher) model() *registry.Model {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current
}

func (p *pusher) pushLocked() {
	if p.cfg == nil {
		return
	}
	model, warnings := registry.Build(p.cfg, p.pods, p.domainSuffix)
	for _, w := range warnings {
		p.log.Warn(w)
	}
	p.current = model
	in := &xds.Input{
		Model:            model,
		VirtualServices:  p.cfg.VirtualServices,
		DestinationRules: p.cfg.DestinationRules,
		DomainSuffix:     p.domainSuffix,
	}
	seen := map[string]bool{}
	for i := range model.Pods {
		pod := &model.Pods[i]
		if pod.ProxyID == "" {
			continue
		}
		seen[pod.ProxyID] = true
		p.pushOne(in, pod)
	}
	for id := range p.versions {
		if !seen[id] {
			p.cache.ClearSnapshot(id)
			delete(p.versions, id)
			p.syncz.forget(id)
		}
	}
}

// pushOne sets one proxy's snapshot. A proxy whose config cannot be
// generated keeps its previous snapshot; the error is logged and shown in
// the sync status.
func (p *pusher) pushOne(in *xds.Input, pod *registry.Pod) {
	res, err := xds.Generate(in, pod)
	var snap *cache.Snapshot
	if err == nil {
		snap, err = xds.NewSnapshot(res)
	}
	if err != nil {
		p.log.Error("xds generation failed; proxy keeps its previous config", "proxy", pod.ProxyID, "error", err)
		p.syncz.generationFailed(pod.ProxyID, err)
		return
	}
	version := snap.GetVersion(resource.ListenerType)
	if p.versions[pod.ProxyID] == version {
		return
	}
	if err := p.cache.SetSnapshot(context.Background(), pod.ProxyID, snap); err != nil {
		p.log.Error("set snapshot", "proxy", pod.ProxyID, "error", err)
		p.syncz.generationFailed(pod.ProxyID, err)
		return
	}
	p.versions[pod.ProxyID] = version
	p.syncz.pushed(pod.ProxyID, version)
	p.log.Debug("snapshot set", "proxy", pod.ProxyID, "version", version)
}
