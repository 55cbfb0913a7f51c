// Command cpserver runs Halyard's control plane with the synthetic mesh of
// the control-plane scale benchmark (see package cpsim), driven by
// commands on stdin. The bench (internal/bench) starts it as a separate
// process to measure the control plane's RSS and CPU on their own.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/halyard-mesh/halyard/internal/bench/cpsim"
)

func main() {
	var s cpsim.Spec
	flag.IntVar(&s.Services, "services", 1000, "number of services")
	flag.IntVar(&s.Versions, "versions", 2, "versions (pods with a sidecar) per service")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := cpsim.Serve(ctx, s, os.Stdin, os.Stdout, log); err != nil {
		fmt.Fprintln(os.Stderr, "cpserver:", err)
		os.Exit(1)
	}
}
