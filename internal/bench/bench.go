// Package bench is Halyard's performance harness. Run measures, on this
// machine and in one run:
//
//   - Istio's published latency scenario: fortio at a fixed request rate
//     (1000/s, open loop) with 1 KB responses over HTTP/1.1 keep-alive
//     connections (2, 4, 16, 64), through three paths back to back: direct,
//     Halyard (client sidecar -> server sidecar, started with `halyard up`)
//     and the same two-hop chain through HAProxy; the latency each proxy
//     chain adds over direct, and each proxy's CPU and peak RSS;
//   - the closed-loop maximum of a single proxy pinned to one core;
//   - the control plane at scale (services x versions, one simulated ADS
//     client per pod): initial sync, convergence of a change, RSS;
//
// and checks the results against Halyard's targets. See
// docs/performance.md.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Options configure Run. The zero value of every field but ResultsDir
// means its default.
type Options struct {
	RepoDir    string // the Halyard module's root; found from the working directory when empty
	ResultsDir string // report.md, report.json, raw fortio results, logs and profiles go here

	Duration              time.Duration // per measured point; 10s
	Rounds                int           // latency runs: the rounds a point's Duration is split into; 3
	Quick                 bool          // CI smoke test: 1s per path, one connection count, small control plane
	Connections           []int         // 2, 4, 16, 64
	QPS                   float64       // 1000
	ResponseBytes         int           // 1024
	SingleCoreConnections int           // 16
	SingleCoreClient      string        // fortio client for the single-core runs: "fast" (default) or "std"
	Profile               bool          // CPU-profile both sidecars under load through their admin address
	Install               bool          // apt-get install haproxy when missing (root only)
	ProxyPackage          string        // the sidecar's main package; ./cmd/halyard-proxy
	SkipDataPlane         bool
	SkipControlPlane      bool

	CPServices int           // 1000
	CPVersions int           // 2 (one pod and one ADS client per service version)
	CPTimeout  time.Duration // how long each control-plane push may take to converge; 2m
	CPMaxRSSMB int           // the control plane is stopped when its RSS passes this; 4000

	DocPath string // when set, the report replaces the generated part of this Markdown file
	Logger  *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.ResultsDir == "" {
		return o, errors.New("bench: no results directory given")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Quick {
		o.Duration, o.Connections, o.Profile, o.Rounds = time.Second, []int{16}, false, 1
		o.CPServices, o.CPVersions, o.CPTimeout = 25, 2, 30*time.Second
	}
	setDefault(&o.Duration, 10*time.Second)
	setDefault(&o.Rounds, 3)
	setDefault(&o.QPS, 1000)
	setDefault(&o.ResponseBytes, 1024)
	setDefault(&o.SingleCoreConnections, 16)
	setDefault(&o.SingleCoreClient, "fast")
	setDefault(&o.ProxyPackage, "./cmd/halyard-proxy")
	setDefault(&o.CPServices, 1000)
	setDefault(&o.CPVersions, 2)
	setDefault(&o.CPTimeout, 2*time.Minute)
	setDefault(&o.CPMaxRSSMB, 4000)
	if len(o.Connections) == 0 {
		o.Connections = []int{2, 4, 16, 64}
	}
	if o.SingleCoreClient != "fast" && o.SingleCoreClient != "std" {
		return o, fmt.Errorf("bench: single-core client %q: want fast or std", o.SingleCoreClient)
	}
	if o.CPVersions < 2 {
		return o, errors.New("bench: the control-plane bench needs at least 2 versions per service (a change moves traffic between them)")
	}
	var err error
	if o.RepoDir == "" {
		o.RepoDir, err = FindRepo(".")
	}
	return o, err
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// harness is one Run's state.
type harness struct {
	opts    Options
	log     *slog.Logger
	tools   toolPaths
	results string
	work    string // scratch files: binaries, configs, mesh state
	logs    string // output of every process the harness starts
	raw     string // fortio's JSON results
}

// Run runs the enabled phases, evaluates the targets, writes report.md and
// report.json into the results directory and returns the report. Every
// process it starts is stopped before it returns.
func Run(ctx context.Context, o Options) (*Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	h, err := newHarness(o)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &Report{StartedAt: start, Settings: Settings{
		Duration: o.Duration.Seconds(), Rounds: o.Rounds, QPS: o.QPS, ResponseBytes: o.ResponseBytes, Connections: o.Connections,
		SingleCoreConnections: o.SingleCoreConnections, SingleCoreClient: o.SingleCoreClient, Quick: o.Quick,
	}}
	if err := h.prepareTools(ctx); err != nil {
		return nil, err
	}
	rep.Machine = h.machineInfo(ctx)
	if !o.SkipDataPlane {
		if err := h.dataPlane(ctx, rep); err != nil {
			return nil, err
		}
		if n := noiseNote(rep); n != "" {
			rep.Notes = append(rep.Notes, n)
		}
	}
	if !o.SkipControlPlane {
		if rep.ControlPlane, err = h.controlPlane(ctx); err != nil {
			return nil, err
		}
	}
	rep.Elapsed = time.Since(start).Round(time.Second).Seconds()
	rep.Targets = evaluate(rep)
	return rep, h.write(rep)
}

func newHarness(o Options) (*harness, error) {
	results, err := filepath.Abs(o.ResultsDir)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	h := &harness{opts: o, log: o.Logger, results: results,
		work: filepath.Join(results, "work"), logs: filepath.Join(results, "logs"), raw: filepath.Join(results, "raw")}
	for _, d := range []string{h.work, h.logs, h.raw, filepath.Join(results, "pprof")} {
		if err := os.RemoveAll(d); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	return h, nil
}

// dataPlane runs the latency phase (with the profile) and the single-core
// phase.
func (h *harness) dataPlane(ctx context.Context, rep *Report) error {
	if err := h.latencyPhase(ctx, rep); err != nil {
		return err
	}
	return h.singleCorePhase(ctx, rep)
}

// write saves report.json and report.md, and updates the doc if asked.
func (h *harness) write(rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	md := rep.Markdown()
	if err := os.WriteFile(filepath.Join(h.results, "report.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(filepath.Join(h.results, "report.md"), []byte(md), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if h.opts.DocPath != "" {
		return updateDoc(h.opts.DocPath, md)
	}
	return nil
}
