package capture

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/podnet"
)

func testPod(t *testing.T) (*podnet.Network, *podnet.Pod) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, nftables)")
	}
	prefix := podnet.NewPrefix()
	n, err := podnet.New(podnet.Options{Prefix: prefix, PodCIDR: netip.MustParsePrefix(fmt.Sprintf("198.18.%d.0/24", 10+os.Getpid()%80))})
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
	})
	p, err := n.AddPod("default/p", "default", "p")
	if err != nil {
		t.Fatal(err)
	}
	return n, p
}

// serve answers every connection with the address it was accepted on.
func serve(t *testing.T, ln net.Listener) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s", c.LocalAddr())
			c.Close()
		}
	}()
}

func TestOutboundCaptureAndExclusions(t *testing.T) {
	n, p := testPod(t)
	r, err := Defaults(15000).WithAnnotations(map[string]string{
		AnnotationExcludeOutboundPorts: "7777",
	})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Do(func() error {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", OutboundPort))
		if err != nil {
			return err
		}
		serve(t, ln)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	host, err := net.Listen("tcp", n.Gateway().String()+":7777")
	if err != nil {
		t.Skip("port 7777 busy on the host: ", err)
	}
	serve(t, host)
	nsFD := openNS(t, p.Path)
	if err := Apply(nsFD, r); err != nil {
		t.Fatal(err)
	}
	if ok, err := Installed(nsFD); !ok || err != nil {
		t.Fatalf("installed = %v, %v", ok, err)
	}
	// Any destination goes to the outbound port...
	if got := ask(t, p, "203.0.113.9:80"); !strings.HasSuffix(got, fmt.Sprintf(":%d", OutboundPort)) {
		t.Fatalf("203.0.113.9:80 reached %q, want the outbound port", got)
	}
	// ...but the excluded port reaches the host directly.
	if got := ask(t, p, n.Gateway().String()+":7777"); got != n.Gateway().String()+":7777" {
		t.Fatalf("excluded port reached %q", got)
	}
	// Applying again replaces the rules (no duplicates, no error).
	if err := Apply(nsFD, Defaults()); err != nil {
		t.Fatal(err)
	}
	if got := ask(t, p, n.Gateway().String()+":7777"); !strings.HasSuffix(got, fmt.Sprintf(":%d", OutboundPort)) {
		t.Fatalf("after re-apply without exclusions, reached %q", got)
	}
	if err := Remove(nsFD); err != nil {
		t.Fatal(err)
	}
	if ok, _ := Installed(nsFD); ok {
		t.Fatal("table still installed after Remove")
	}
}

func TestIncludeRanges(t *testing.T) {
	_, p := testPod(t)
	err := p.Do(func() error {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", OutboundPort))
		if err == nil {
			serve(t, ln)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Defaults().WithAnnotations(map[string]string{AnnotationIncludeOutboundIPRanges: "203.0.113.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(openNS(t, p.Path), r); err != nil {
		t.Fatal(err)
	}
	if got := ask(t, p, "203.0.113.9:80"); !strings.HasSuffix(got, fmt.Sprintf(":%d", OutboundPort)) {
		t.Fatalf("included range reached %q", got)
	}
	var dialErr error
	_ = p.Do(func() error {
		c, err := net.DialTimeout("tcp", "192.0.2.1:80", 300*time.Millisecond)
		if err == nil {
			c.Close()
		}
		dialErr = err
		return nil
	})
	if dialErr == nil {
		t.Fatal("a range outside includeOutboundIPRanges was captured")
	}
}

func TestAnnotationErrors(t *testing.T) {
	for k, v := range map[string]string{
		AnnotationExcludeOutboundPorts:    "80,x",
		AnnotationExcludeInboundPorts:     "70000",
		AnnotationExcludeOutboundIPRanges: "10.0.0.0/33",
		AnnotationIncludeOutboundIPRanges: "fd00::/8",
	} {
		_, err := Defaults().WithAnnotations(map[string]string{k: v})
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: error %v, want one naming the annotation", k, v, err)
		}
	}
}

func openNS(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

func ask(t *testing.T, p *podnet.Pod, addr string) string {
	t.Helper()
	var out []byte
	err := p.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		out, err = io.ReadAll(c)
		return err
	})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return string(out)
}
