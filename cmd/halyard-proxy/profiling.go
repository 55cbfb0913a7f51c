//go:build pprof

package main

import (
	"net/http"
	"net/http/pprof"
)

// withProfiling serves /debug/pprof next to the admin endpoints. Only in
// builds made with -tags pprof: the profiler stays out of the sidecar.
func withProfiling(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.Handle("/", h)
	return mux
}
