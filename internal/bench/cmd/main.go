// Command bench runs Halyard's performance harness (package bench) and
// prints the report; `make bench` runs it. See docs/performance.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/halyard-mesh/halyard/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, failOnTargets, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	rep, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, rep.Markdown())
	fmt.Fprintf(stderr, "results: %s/report.md and report.json\n", o.ResultsDir)
	if failed := rep.Failed(); failOnTargets && len(failed) > 0 {
		return fmt.Errorf("bench: %d target(s) not met", len(failed))
	}
	return nil
}

func parseFlags(args []string, stderr io.Writer) (bench.Options, bool, error) {
	var o bench.Options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.ResultsDir, "results", "bin/bench", "directory for report.md, report.json, raw results, logs and profiles")
	fs.StringVar(&o.RepoDir, "repo", "", "the Halyard repository (default: the one containing the working directory)")
	fs.DurationVar(&o.Duration, "duration", 0, "duration of each measured point (default 10s)")
	fs.IntVar(&o.Rounds, "rounds", 0, "latency runs: rounds each point is split into, every path once per round; medians are reported (default 3)")
	fs.BoolVar(&o.Quick, "quick", false, "smoke test: about 1s per path at one connection count, small control plane")
	conns := fs.String("connections", "2,4,16,64", "connection counts of the latency runs")
	fs.Float64Var(&o.QPS, "qps", 1000, "request rate of the latency runs")
	fs.IntVar(&o.ResponseBytes, "size", 1024, "response size in bytes")
	fs.IntVar(&o.SingleCoreConnections, "single-core-connections", 16, "connections of the closed-loop single-core runs")
	fs.StringVar(&o.SingleCoreClient, "single-core-client", "fast", "fortio client of the single-core runs: fast, or std (through HTTP_PROXY)")
	fs.BoolVar(&o.Profile, "pprof", true, "CPU-profile both sidecars under load (needs /debug/pprof on their admin address)")
	fs.StringVar(&o.ProxyPackage, "proxy-package", "./cmd/halyard-proxy", "main package the sidecar binary is built from (to bench a variant)")
	fs.BoolVar(&o.Install, "install", false, "install haproxy with apt-get when missing (as root)")
	fs.BoolVar(&o.SkipDataPlane, "skip-dataplane", false, "skip the latency and single-core runs")
	fs.BoolVar(&o.SkipControlPlane, "skip-controlplane", false, "skip the control-plane scale run")
	fs.IntVar(&o.CPServices, "cp-services", 1000, "control plane: number of services")
	fs.IntVar(&o.CPVersions, "cp-versions", 2, "control plane: versions (pods, ADS clients) per service")
	fs.DurationVar(&o.CPTimeout, "cp-timeout", 0, "control plane: how long a push may take to converge (default 2m)")
	fs.IntVar(&o.CPMaxRSSMB, "cp-max-rss", 4000, "control plane: stop it when its RSS passes this many MB")
	fs.StringVar(&o.DocPath, "doc", "", "replace the generated part of this Markdown file (docs/performance.md) with the report")
	failOnTargets := fs.Bool("fail-on-targets", false, "exit with status 1 when a target is not met")
	verbose := fs.Bool("v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return o, false, err
	}
	if fs.NArg() > 0 {
		return o, false, fmt.Errorf("bench: unexpected arguments %q", fs.Args())
	}
	for _, c := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			return o, false, fmt.Errorf("bench: -connections: %q is not a positive number", c)
		}
		o.Connections = append(o.Connections, n)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return o, *failOnTargets, nil
}
