package cpsim

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/halyard-mesh/halyard/internal/controlplane"
)

// Hello is the first line Serve writes: where the control plane listens.
type Hello struct {
	XDS   string `json:"xds"`
	Admin string `json:"admin"`
	Pprof string `json:"pprof"` // serves /debug/pprof/ for this process
	PID   int    `json:"pid"`
}

// Reply answers one command.
type Reply struct {
	Command string  `json:"command"`
	Seconds float64 `json:"seconds"` // time the control plane took to compute and set every snapshot
	Error   string  `json:"error,omitempty"`
}

// Commands Serve reads, one per line.
const (
	CommandPods   = "pods"   // register every pod: the initial sync
	CommandChange = "change" // apply the next generation of the config
)

// Serve runs Halyard's control plane on 127.0.0.1 with generation 0 of the
// config and no pods, writes a Hello line to out, then runs the commands
// read from in, answering each with a Reply line. It returns when in ends
// or ctx is done.
func Serve(ctx context.Context, s Spec, in io.Reader, out io.Writer, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cp := controlplane.New(controlplane.Options{XDSAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0", Logger: log})
	if err := cp.Listen(); err != nil {
		return fmt.Errorf("cpsim: %w", err)
	}
	pprofAddr, err := servePprof(ctx)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cp.Run(ctx) }()
	cp.SetConfig(Config(s, 0))
	enc := json.NewEncoder(out)
	if err := enc.Encode(Hello{XDS: cp.XDSAddress(), Admin: cp.AdminAddress(), Pprof: pprofAddr, PID: os.Getpid()}); err != nil {
		return fmt.Errorf("cpsim: %w", err)
	}
	return serveCommands(ctx, cancel, cp, s, in, enc, done)
}

// serveCommands runs the commands read from in until in ends (then it
// stops the control plane) or the control plane stops.
func serveCommands(ctx context.Context, cancel context.CancelFunc, cp *controlplane.Server, s Spec, in io.Reader, enc *json.Encoder, done <-chan error) error {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	generation := 0
	for {
		select {
		case <-ctx.Done():
			return <-done
		case err := <-done:
			return err
		case line, ok := <-lines:
			if !ok {
				cancel()
				return <-done
			}
			if err := enc.Encode(run(cp, s, line, &generation)); err != nil {
				return fmt.Errorf("cpsim: %w", err)
			}
		}
	}
}

// servePprof serves Go's profiles on a free loopback port until ctx ends.
func servePprof(ctx context.Context) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("cpsim: pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	context.AfterFunc(ctx, func() { srv.Close() })
	return ln.Addr().String(), nil
}

// run executes one command and times the control plane's part of it.
func run(cp *controlplane.Server, s Spec, command string, generation *int) Reply {
	var apply func()
	switch command {
	case CommandPods:
		pods := Pods(s)
		apply = func() { cp.SetPods(pods) }
	case CommandChange:
		*generation++
		cfg := Config(s, *generation)
		apply = func() { cp.SetConfig(cfg) }
	default:
		return Reply{Command: command, Error: fmt.Sprintf("unknown command %q", command)}
	}
	start := time.Now()
	apply()
	return Reply{Command: command, Seconds: time.Since(start).Seconds()}
}
