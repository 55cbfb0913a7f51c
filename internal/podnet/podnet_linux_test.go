package podnet

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
}

// testNetwork makes a network with a unique prefix and range, removed at
// the end; the test fails if anything of it is left.
func testNetwork(t *testing.T) *Network {
	t.Helper()
	needRoot(t)
	prefix := NewPrefix()
	cidr := netip.MustParsePrefix(fmt.Sprintf("198.18.%d.0/24", 100+os.Getpid()%150))
	n, err := New(Options{Prefix: prefix, PodCIDR: cidr})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Setup(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
		if left, err := Leftovers(prefix); err != nil || len(left) > 0 {
			t.Errorf("left behind: %v (%v)", left, err)
		}
	})
	return n
}

func listenIn(t *testing.T, p *Pod, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := p.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func dialIn(t *testing.T, p *Pod, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	err := p.Do(func() (err error) { c, err = net.DialTimeout("tcp", addr, 2*time.Second); return err })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echoOnce accepts one connection and writes its peer's address to it.
func echoOnce(ln net.Listener) {
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		fmt.Fprintf(c, "%s %s", c.RemoteAddr(), c.LocalAddr())
		c.Close()
	}()
}

func TestPodsReachEachOtherAndTheHost(t *testing.T) {
	n := testNetwork(t)
	a, err := n.AddPod("default/a", "default", "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.AddPod("default/b", "default", "b")
	if err != nil {
		t.Fatal(err)
	}
	if a.IP == b.IP || !n.opts.PodCIDR.Contains(a.IP) {
		t.Fatalf("addresses %s %s", a.IP, b.IP)
	}
	ln := listenIn(t, b, ":0")
	echoOnce(ln)
	port := ln.Addr().(*net.TCPAddr).Port
	c := dialIn(t, a, fmt.Sprintf("%s:%d", b.IP, port))
	got, _ := io.ReadAll(c)
	if want := a.IP.String() + ":"; len(got) < len(want) || string(got[:len(want)]) != want {
		t.Fatalf("b saw %q, want the peer %s", got, a.IP)
	}

	host, err := net.Listen("tcp", n.Gateway().String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	echoOnce(host)
	c = dialIn(t, a, host.Addr().String())
	if got, _ := io.ReadAll(c); len(got) == 0 {
		t.Fatal("no answer from the host side of the bridge")
	}
	if err := a.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.Path); !os.IsNotExist(err) {
		t.Fatalf("namespace %s still there: %v", a.Path, err)
	}
}

func TestCleanupRemovesWhatAKilledMeshLeft(t *testing.T) {
	needRoot(t)
	prefix := NewPrefix()
	n, err := New(Options{Prefix: prefix, PodCIDR: netip.MustParsePrefix("198.18.99.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Setup(); err != nil {
		t.Fatal(err)
	}
	var pods []*Pod
	for _, name := range []string{"x", "y"} {
		p, err := n.AddPod("default/"+name, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		pods = append(pods, p)
	}
	left, err := Leftovers(prefix)
	if err != nil || len(left) != 5 { // bridge, 2 veths, 2 namespaces
		t.Fatalf("before cleanup: %v (%v), want 5", left, err)
	}
	// A process left running inside a pod's namespace (its mesh is gone).
	orphan := exec.Command("nsenter", "--net="+pods[0].Path, "sleep", "300")
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- orphan.Wait() }()
	waitInNetns(t, orphan.Process.Pid, pods[0].Path)
	removed, err := Cleanup(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, fmt.Sprintf("process %d in netns %s", orphan.Process.Pid, filepath.Base(pods[0].Path))) {
		t.Fatalf("removed %v, want the process among them", removed)
	}
	select {
	case err := <-exited:
		if err == nil {
			t.Fatal("the process in the namespace exited by itself")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the process in the namespace is still running")
	}
	if left, _ := Leftovers(prefix); len(left) != 0 {
		t.Fatalf("after cleanup: %v", left)
	}
}

// waitInNetns waits until the process has entered the namespace (nsenter
// sets it up before it execs).
func waitInNetns(t *testing.T, pid int, path string) {
	t.Helper()
	var ns syscall.Stat_t
	if err := syscall.Stat(path, &ns); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st syscall.Stat_t
		if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) == nil && st.Ino == ns.Ino && st.Dev == ns.Dev {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d never entered %s", pid, path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Prefix: "a", PodCIDR: DefaultPodCIDR},
		{Prefix: "hy-x", PodCIDR: DefaultPodCIDR},
		{Prefix: "hyab", PodCIDR: netip.MustParsePrefix("198.18.0.0/30")},
		{Prefix: "hyab", PodCIDR: netip.MustParsePrefix("fd00::/64")},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}
