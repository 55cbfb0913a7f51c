package controlplane

import (
	"encoding/json"
	"net/http"
)

// adminHandler serves the control plane's admin API:
//
//	GET /ready               200 once serving
//	GET /debug/syncz         every proxy's push, ACK and NACK state
//	GET /debug/registry      services and their endpoints
//	GET /metrics             the control plane's metrics (Prometheus text)
//
// and whatever was mounted with Handle.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s.extra)
	mux.Handle("GET /metrics", s.metrics.Handler())
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /debug/syncz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.syncz.snapshot())
	})
	mux.HandleFunc("GET /debug/registry", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, registryView(s.Model()))
	})
	return mux
}

// SyncStatus returns every proxy's sync state.
func (s *Server) SyncStatus() []ProxyStatus { return s.syncz.snapshot() }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
