//go:build !pprof

package main

import "net/http"

// withProfiling adds nothing in normal builds; build with -tags pprof to
// serve /debug/pprof on the admin address.
func withProfiling(h http.Handler) http.Handler { return h }
