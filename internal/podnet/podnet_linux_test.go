package podnet

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
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
	for _, name := range []string{"x", "y"} {
		if _, err := n.AddPod("default/"+name, "default", name); err != nil {
			t.Fatal(err)
		}
	}
	left, err := Leftovers(prefix)
	if err != nil || len(left) != 5 { // bridge, 2 veths, 2 namespaces
		t.Fatalf("before cleanup: %v (%v), want 5", left, err)
	}
	removed, err := Cleanup(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 5 {
		t.Fatalf("removed %v, want 5 items", removed)
	}
	if left, _ := Leftovers(prefix); len(left) != 0 {
		t.Fatalf("after cleanup: %v", left)
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
