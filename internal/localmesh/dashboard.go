package localmesh

import (
	"context"
	"sync"

	"github.com/halyard-mesh/halyard/internal/dashboard"
	"github.com/halyard-mesh/halyard/internal/meshmetrics"
)

// startDashboard mounts the web UI on the control plane's admin address
// and starts the scraper that feeds it; the scraper stops with ctx.
func (m *mesh) startDashboard(ctx context.Context, bg *sync.WaitGroup) {
	scraper := meshmetrics.NewScraper(meshmetrics.Options{Targets: m.sidecars, Logger: m.opts.Logger})
	m.cp.Handle(dashboard.Path, dashboard.Handler(dashboard.Options{
		Metrics:    scraper.Store(),
		Config:     m.cp.Config,
		Model:      m.cp.Model,
		SyncStatus: func() any { return m.cp.SyncStatus() },
		Interval:   scraper.Interval(),
	}))
	bg.Go(func() { scraper.Run(ctx) })
}

// sidecars are the scrape targets: every pod's sidecar stats port.
func (m *mesh) sidecars() []meshmetrics.Target {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []meshmetrics.Target
	for _, p := range m.state.Pods {
		if p.StatsAddress != "" {
			out = append(out, meshmetrics.Target{Name: p.Namespace + "/" + p.Name, Address: p.StatsAddress})
		}
	}
	return out
}
