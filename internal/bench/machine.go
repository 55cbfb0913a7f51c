package bench

import (
	"bufio"
	"context"
	"os"
	"strings"
	"time"
)

// machineInfo describes this machine and the tools' versions.
func (h *harness) machineInfo(ctx context.Context) Machine {
	var m Machine
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUs, m.Model = parseCPUInfo(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if out, err := runCommand(ctx, []string{h.tools.Go, "env", "GOVERSION"}, os.Environ(), h.work); err == nil {
		m.GoVersion = strings.TrimSpace(out)
	}
	if h.tools.HAProxy != "" {
		if out, err := runCommand(ctx, []string{h.tools.HAProxy, "-v"}, os.Environ(), h.work); err == nil {
			m.HAProxy = parseHAProxyVersion(out)
		}
	}
	if h.tools.Fortio != "" {
		if out, err := runCommand(ctx, []string{h.tools.Fortio, "version"}, os.Environ(), h.work); err == nil {
			m.Fortio = strings.TrimSpace(out)
		}
	}
	return m
}

// parseCPUInfo returns the number of processors and the first model name
// in the content of /proc/cpuinfo.
func parseCPUInfo(s string) (cpus int, model string) {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "processor":
			cpus++
		case "model name":
			if model == "" {
				model = strings.TrimSpace(val)
			}
		}
	}
	return cpus, model
}

// parseHAProxyVersion returns the version from `haproxy -v`'s first line:
// "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/".
func parseHAProxyVersion(out string) string {
	first, _, _ := strings.Cut(out, "\n")
	_, rest, ok := strings.Cut(first, "version ")
	if !ok {
		return strings.TrimSpace(first)
	}
	v, _, _ := strings.Cut(rest, " ")
	return v
}
