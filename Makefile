# Halyard: build, run the demo, test.
GO ?= go

.PHONY: build demo test test-short vet bench clean

# Static binaries without golang.org/x/net/trace (internal/buildflags says
# why; the tests and the bench build the same way).
build:
	CGO_ENABLED=0 $(GO) build -tags grpcnotrace -o bin/ ./cmd/...

# Runs the demo mesh (our small Bookinfo) in the foreground; Ctrl-C stops it.
demo: build
	bin/halyard up -f examples/bookinfo/

# Every test: unit, golden and end-to-end (real processes and sockets).
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v /test/e2e)
	# The end-to-end tests measure latencies: they run on their own.
	$(GO) test -race -count=1 -timeout 20m ./test/e2e/
	$(GO) test -run '^$$' -bench . -benchtime=1x ./internal/proxy/...

test-short:
	$(GO) test -short -count=1 ./...

# Performance harness (docs/performance.md): Halyard's sidecars against
# HAProxy (latency, CPU, memory, single-core maximum) and the control plane
# at scale, then the proxy's micro-benchmarks. Results go to bin/bench/;
# BENCHFLAGS=-quick is a one-minute smoke run.
bench:
	$(GO) run ./internal/bench/cmd -results bin/bench $(BENCHFLAGS)
	$(GO) test -run '^$$' -bench . -benchmem ./internal/proxy/...

clean:
	rm -rf bin/
