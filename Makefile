# Halyard: build, run the demo, test.
GO ?= go

.PHONY: build demo test test-short vet bench clean

build:
	$(GO) build -o bin/ ./cmd/...

# Runs the demo mesh (our small Bookinfo) in the foreground; Ctrl-C stops it.
demo: build
	bin/halyard up -f examples/bookinfo/

# Every test: unit, golden and end-to-end (real processes and sockets).
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

test-short:
	$(GO) test -short -count=1 ./...

clean:
	rm -rf bin/
