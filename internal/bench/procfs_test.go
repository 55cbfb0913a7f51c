package bench

import (
	"os"
	"testing"
	"time"
)

// The testdata files are /proc/<pid>/stat and status of real processes:
// an idle HAProxy, and `yes` run under the name "we ird) (name" for 1.5 s.
func TestParseStatCPU(t *testing.T) {
	for file, want := range map[string]time.Duration{
		"testdata/proc-haproxy.stat":    1170 * time.Millisecond, // utime 42 + stime 75 ticks
		"testdata/proc-weird-name.stat": 1480 * time.Millisecond, // 36 + 112
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseStatCPU(string(b))
		if err != nil || got != want {
			t.Errorf("%s: %v, %v; want %v", file, got, err, want)
		}
	}
	for _, bad := range []string{"", "12 (x) S 1 2", "12 (x) S 1 2 3 4 5 6 7 8 9 10 zz 12"} {
		if _, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q) succeeded", bad)
		}
	}
}

func TestParseStatus(t *testing.T) {
	b, err := os.ReadFile("testdata/proc-haproxy.status")
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseStatus(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if m["VmHWM"] != 14872<<10 || m["VmRSS"] != 14872<<10 {
		t.Errorf("VmHWM %d, VmRSS %d; want %d each", m["VmHWM"], m["VmRSS"], 14872<<10)
	}
	if _, err := parseStatus("Name:\thaproxy\nVmRSS:\t 10 kB\n"); err == nil {
		t.Error("a status without VmHWM was accepted")
	}
}

func TestReadProcSelf(t *testing.T) {
	s, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 || s.PeakRSS < s.RSS {
		t.Errorf("rss %d, peak %d", s.RSS, s.PeakRSS)
	}
	if _, err := readProc(-1); err == nil {
		t.Error("readProc(-1) succeeded")
	}
}

func TestParseProcStat(t *testing.T) {
	b, err := os.ReadFile("testdata/proc-stat.txt") // the first line of this machine's /proc/stat
	if err != nil {
		t.Fatal(err)
	}
	// user 144926 + nice 0 + system 52289 + irq 0 + softirq 5727 + steal 16962 ticks
	if got, err := parseProcStat(string(b)); err != nil || got != 2199040*time.Millisecond {
		t.Errorf("busy %v, %v", got, err)
	}
	if _, err := parseProcStat("intr 1 2 3\n"); err == nil {
		t.Error("a /proc/stat without the cpu line was accepted")
	}
	if _, err := systemCPU(); err != nil {
		t.Error(err)
	}
}
