package bench

import (
	"os"
	"testing"
)

func TestParseMachine(t *testing.T) {
	b, err := os.ReadFile("testdata/cpuinfo.txt") // this machine's /proc/cpuinfo
	if err != nil {
		t.Fatal(err)
	}
	if n, model := parseCPUInfo(string(b)); n != 2 || model != "AMD EPYC" {
		t.Errorf("cpuinfo: %d x %q, want 2 x AMD EPYC", n, model)
	}
	b, err = os.ReadFile("testdata/haproxy-v.txt") // `haproxy -v` of Debian 12's package
	if err != nil {
		t.Fatal(err)
	}
	if v := parseHAProxyVersion(string(b)); v != "2.6.12-1+deb12u4" {
		t.Errorf("haproxy version %q", v)
	}
}
