// Package buildflags holds how Halyard's binaries are built, for the tools
// that build them (the Makefile says the same): the end-to-end tests and
// the performance harness must measure what users run.
//
//   - CGO_ENABLED=0: a static binary with Go's own DNS resolver; a sidecar
//     does not map the C library.
//   - -tags grpcnotrace: grpc-go leaves out golang.org/x/net/trace, which
//     links html/template; its use of reflection keeps every exported method
//     of every linked type (the Envoy API's validation code among them). The
//     sidecar binary shrinks from about 33 to 20 MB and its resident memory
//     by about 7 MB, most of it code pages.
package buildflags

// Env is what the environment of `go build` must add.
var Env = []string{"CGO_ENABLED=0"}

// Args go between `go build` and the packages.
var Args = []string{"-tags", "grpcnotrace"}
