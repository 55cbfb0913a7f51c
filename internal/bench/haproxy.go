package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// haproxyConfig is one HAProxy process: an HTTP-mode frontend on Listen
// forwarding every request to Upstream over keep-alive connections.
type haproxyConfig struct {
	Listen   string // 127.0.0.1:port
	Upstream string // 127.0.0.1:port
	Threads  int    // nbthread; 0 keeps HAProxy's default (one per CPU)
}

// render returns the configuration file.
func (c haproxyConfig) render() string {
	var b strings.Builder
	b.WriteString("# Written by Halyard's bench (internal/bench).\nglobal\n")
	if c.Threads > 0 {
		fmt.Fprintf(&b, "    nbthread %d\n", c.Threads)
	}
	fmt.Fprintf(&b, `    maxconn 4000

defaults
    mode http
    option http-keep-alive
    http-reuse safe
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s

frontend bench
    bind %s
    default_backend upstream

backend upstream
    server upstream %s
`, c.Listen, c.Upstream)
	return b.String()
}

// startHAProxy writes the configuration and runs haproxy in the foreground
// (-db), pinned to cpus when given, until the phase's cleanups stop it.
func (h *harness) startHAProxy(ctx context.Context, cl *cleanups, name string, c haproxyConfig, cpus string) (*proc, error) {
	cfgPath := filepath.Join(h.work, name+".cfg")
	if err := os.WriteFile(cfgPath, []byte(c.render()), 0o644); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	argv := pinned(cpus, h.tools.HAProxy, "-db", "-f", cfgPath)
	p, err := startProc(name, argv, os.Environ(), h.work, filepath.Join(h.logs, name+".log"))
	if err != nil {
		return nil, err
	}
	cl.add(func() { p.stop(5 * time.Second) })
	if err := waitListening(ctx, p, c.Listen, 10*time.Second); err != nil {
		return nil, err
	}
	return p, nil
}

// startFortioServer runs fortio's echo server on a free loopback port.
func (h *harness) startFortioServer(ctx context.Context, cl *cleanups, name, cpus string) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	dataDir := filepath.Join(h.work, name+"-data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, "", fmt.Errorf("bench: %w", err)
	}
	argv := pinned(cpus, fortioServerArgs(h.tools.Fortio, addr, dataDir)...)
	p, err := startProc(name, argv, os.Environ(), dataDir, filepath.Join(h.logs, name+".log"))
	if err != nil {
		return nil, "", err
	}
	cl.add(func() { p.stop(5 * time.Second) })
	if err := waitListening(ctx, p, addr, 10*time.Second); err != nil {
		return nil, "", err
	}
	return p, addr, nil
}

// fortioServerArgs is fortio's HTTP echo server on addr with every other
// listener (gRPC, redirect, TCP and UDP echo) off.
func fortioServerArgs(fortio, addr, dataDir string) []string {
	return []string{fortio, "server", "-http-port", addr,
		"-grpc-port", "disabled", "-redirect-port", "disabled",
		"-tcp-port", "disabled", "-udp-port", "disabled",
		"-data-dir", dataDir, "-loglevel", "warning"}
}

// pinned prefixes argv with taskset when cpus is set.
func pinned(cpus string, argv ...string) []string {
	if cpus == "" {
		return argv
	}
	return append([]string{"taskset", "-c", cpus}, argv...)
}
