// Package dashboard is Halyard's built-in web UI: the service graph with
// live rates, error ratios, P99 latency and mTLS per edge, per-service RED
// charts, the VirtualServices and DestinationRules applied to each service,
// and every proxy's sync status. Its assets are embedded; the page polls
// the JSON APIs served next to it.
package dashboard

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/meshmetrics"
	"github.com/halyard-mesh/halyard/internal/registry"
)

//go:embed assets
var assets embed.FS

// Path is where the UI is mounted on the control plane's admin address.
const Path = "/dashboard/"

// Metrics is what the UI reads the mesh's figures from.
type Metrics interface {
	Graph(window time.Duration) meshmetrics.Graph
	Series(name, namespace string, window time.Duration) []meshmetrics.Point
}

// Options are the UI's data sources.
type Options struct {
	Metrics      Metrics
	Config       func() *config.Snapshot // the configuration in force
	Model        func() *registry.Model  // services and endpoints
	SyncStatus   func() any              // every proxy's xDS sync state
	DomainSuffix string
	// Interval is the scrape interval, so the page polls no faster.
	Interval time.Duration
}

// Handler serves the UI and its APIs under Path:
//
//	GET /dashboard/                        the page
//	GET /dashboard/api/graph?window=30s    the service graph (meshmetrics.Graph)
//	GET /dashboard/api/series?service=reviews&namespace=default&window=10s
//	GET /dashboard/api/services            services, versions, VirtualServices, DestinationRules
//	GET /dashboard/api/syncz               proxies' sync status
func Handler(o Options) http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET "+Path, http.StripPrefix(Path, http.FileServerFS(static)))
	mux.HandleFunc("GET "+Path+"api/graph", func(w http.ResponseWriter, r *http.Request) {
		win, err := window(r, 30*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, o.Metrics.Graph(win))
	})
	mux.HandleFunc("GET "+Path+"api/series", func(w http.ResponseWriter, r *http.Request) {
		win, err := window(r, 10*time.Second)
		name, ns := r.URL.Query().Get("service"), r.URL.Query().Get("namespace")
		if err == nil && name == "" {
			err = errBadRequest("dashboard: series: the service parameter is required")
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if ns == "" {
			ns = "default"
		}
		writeJSON(w, o.Metrics.Series(name, ns, win))
	})
	mux.HandleFunc("GET "+Path+"api/services", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, services(o.Model(), o.Config(), o.DomainSuffix))
	})
	mux.HandleFunc("GET "+Path+"api/syncz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, o.SyncStatus())
	})
	mux.HandleFunc("GET "+Path+"api/settings", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"intervalMs": o.Interval.Milliseconds()})
	})
	return mux
}

type errBadRequest string

func (e errBadRequest) Error() string { return string(e) }

// window reads the window parameter: a Go duration or a number of seconds.
func window(r *http.Request, def time.Duration) (time.Duration, error) {
	v := r.URL.Query().Get("window")
	if v == "" {
		return def, nil
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errBadRequest("dashboard: window " + strconv.Quote(v) + ": want a duration such as 30s")
	}
	return d, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
