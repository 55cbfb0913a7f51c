package bench

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// it is 100 on every Linux architecture Go supports.
const clockTicks = 100

// procSample is one reading of a process's CPU time and memory.
type procSample struct {
	CPU     time.Duration // utime + stime
	PeakRSS int64         // VmHWM, bytes
	RSS     int64         // VmRSS, bytes
	AnonRSS int64         // RssAnon, bytes (0 when the kernel does not say)
	FileRSS int64         // RssFile, bytes (0 when the kernel does not say)
}

// readProc reads /proc/<pid>/stat and /proc/<pid>/status.
func readProc(pid int) (procSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, fmt.Errorf("bench: process %d: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, fmt.Errorf("bench: process %d: %w", pid, err)
	}
	cpu, err := parseStatCPU(string(stat))
	if err != nil {
		return procSample{}, fmt.Errorf("bench: process %d: %w", pid, err)
	}
	mem, err := parseStatus(string(status))
	if err != nil {
		return procSample{}, fmt.Errorf("bench: process %d: %w", pid, err)
	}
	return procSample{CPU: cpu, PeakRSS: mem["VmHWM"], RSS: mem["VmRSS"], AnonRSS: mem["RssAnon"], FileRSS: mem["RssFile"]}, nil
}

// parseStatCPU returns utime + stime from the content of /proc/<pid>/stat.
// The command name (field 2) is in parentheses and may itself contain
// spaces and parentheses, so fields are counted from the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("bench: /proc stat: no command name")
	}
	// After the name: field 3 (state) is rest[0]; utime and stime are
	// fields 14 and 15.
	rest := strings.Fields(stat[end+1:])
	if len(rest) < 13 {
		return 0, fmt.Errorf("bench: /proc stat: %d fields after the name, want at least 13", len(rest))
	}
	var ticks int64
	for _, f := range rest[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc stat: cpu time %q: %w", f, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// parseStatus returns the kB-valued fields of /proc/<pid>/status in bytes
// (VmHWM, VmRSS, ...). VmHWM and VmRSS must be present.
func parseStatus(status string) (map[string]int64, error) {
	out := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		num, unit, _ := strings.Cut(strings.TrimSpace(val), " ")
		if unit != "kB" {
			continue
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bench: /proc status %s: %w", key, err)
		}
		out[key] = n << 10
	}
	for _, k := range []string{"VmHWM", "VmRSS"} {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("bench: /proc status: no %s", k)
		}
	}
	return out, nil
}

// procComm returns the command name of a process (/proc/<pid>/comm).
func procComm(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// cpuMeter measures the CPU time a set of processes spends between start
// and stop.
type cpuMeter struct {
	pids  []int
	start []time.Duration
}

func startCPU(pids []int) (*cpuMeter, error) {
	m := &cpuMeter{pids: pids, start: make([]time.Duration, len(pids))}
	for i, pid := range pids {
		s, err := readProc(pid)
		if err != nil {
			return nil, err
		}
		m.start[i] = s.CPU
	}
	return m, nil
}

// stop returns each process's CPU time since start.
func (m *cpuMeter) stop() ([]time.Duration, error) {
	out := make([]time.Duration, len(m.pids))
	for i, pid := range m.pids {
		s, err := readProc(pid)
		if err != nil {
			return nil, err
		}
		out[i] = s.CPU - m.start[i]
	}
	return out, nil
}

// systemCPU is the busy time of every CPU together, from /proc/stat.
func systemCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	return parseProcStat(string(b))
}

// parseProcStat returns the busy time (user, nice, system, irq, softirq,
// steal) on the aggregate "cpu" line of /proc/stat.
func parseProcStat(stat string) (time.Duration, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("bench: /proc/stat: unexpected first line %q", line)
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system [idle iowait] irq softirq steal
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc/stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// otherMeter measures the CPU that processes outside a known set use
// while a run lasts: the system's busy time minus the known processes'
// and the load generator's. Anything well above zero means something else
// on the machine competed with the run.
type otherMeter struct {
	known *cpuMeter
	sys   time.Duration
	start time.Time
}

func startOther(known []int) (*otherMeter, error) {
	sys, err := systemCPU()
	if err != nil {
		return nil, err
	}
	m, err := startCPU(known)
	if err != nil {
		return nil, err
	}
	return &otherMeter{known: m, sys: sys, start: time.Now()}, nil
}

// stop returns each known process's CPU time, and the other processes'
// CPU in cores (CPU seconds per second), given the generator's CPU time.
func (m *otherMeter) stop(generator time.Duration) ([]time.Duration, float64, error) {
	known, err := m.known.stop()
	if err != nil {
		return nil, 0, err
	}
	sys, err := systemCPU()
	if err != nil {
		return nil, 0, err
	}
	other := sys - m.sys - generator
	for _, k := range known {
		other -= k
	}
	return known, max(other.Seconds(), 0) / time.Since(m.start).Seconds(), nil
}
