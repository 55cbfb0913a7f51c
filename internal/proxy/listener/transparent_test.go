package listener

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestSniffHTTP(t *testing.T) {
	for in, want := range map[string]bool{
		"GET / HTTP/1.1\r\n":           true,
		"POST /x HTTP/1.0\r\n":         true,
		"PRI * HTTP/2.0\r\n\r\nSM\r\n": true,
		"\x16\x03\x01\x02\x00\x01":     false, // TLS ClientHello
		"GETX":                         false,
		"hello":                        false,
		"GE":                           false, // closed before the method ended
		"":                             false,
	} {
		br := bufio.NewReader(strings.NewReader(in))
		if got := sniffHTTP(br); got != want {
			t.Errorf("sniffHTTP(%q) = %v, want %v", in, got, want)
		}
		// Nothing is consumed.
		rest, _ := io.ReadAll(br)
		if string(rest) != in {
			t.Errorf("sniffHTTP(%q) consumed bytes: %q left", in, rest)
		}
	}
}

func TestLookupDstPrefersTheExactAddress(t *testing.T) {
	m := NewManager(Options{Log: slog.New(slog.DiscardHandler)})
	defer m.Shutdown(t.Context())
	tcp := &TCPProxy{Cluster: "c"}
	err := m.Update([]Config{
		{Name: "virtualOutbound", Address: "127.0.0.1:0", BindToPort: true, UseOriginalDst: true, TCP: &TCPProxy{Cluster: "PassthroughCluster"}},
		{Name: "0.0.0.0_9080", Address: "0.0.0.0:9080", TCP: tcp},
		{Name: "inbound|9080", Address: "198.18.0.5:9080", TCP: tcp, Inbound: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	for dst, want := range map[string]string{
		"198.18.0.5:9080": "inbound|9080",
		"198.19.0.7:9080": "0.0.0.0_9080",
		"198.19.0.7:9081": "",
	} {
		got := m.lookupDst(netip.MustParseAddrPort(dst))
		if name := nameOf(got); name != want {
			t.Errorf("lookupDst(%s) = %q, want %q", dst, name, want)
		}
	}
	if a := m.Addr("virtualOutbound"); a == nil || a.(*net.TCPAddr).Port == 0 {
		t.Fatalf("virtualOutbound not bound: %v", a)
	}
}

func nameOf(c *Config) string {
	if c == nil {
		return ""
	}
	return c.Name
}

// TestUncapturedConnectionIsClosed: a connection made straight to a
// use_original_dst listener (not redirected by capture rules) is closed
// instead of being passed through to the listener itself again.
func TestUncapturedConnectionIsClosed(t *testing.T) {
	m := NewManager(Options{Log: slog.New(slog.DiscardHandler)})
	defer m.Shutdown(t.Context())
	err := m.Update([]Config{{Name: "virtualOutbound", Address: "127.0.0.1:0", BindToPort: true,
		UseOriginalDst: true, TCP: &TCPProxy{Cluster: "PassthroughCluster"}}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", m.Addr("virtualOutbound").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || err != io.EOF {
		t.Fatalf("read = %d, %v; want the connection closed (EOF)", n, err)
	}
}

// BenchmarkCapturedDispatch is the per-connection work of a captured
// connection before proxying: the hand-off lookup and the HTTP sniff.
func BenchmarkCapturedDispatch(b *testing.B) {
	m := NewManager(Options{Log: slog.New(slog.DiscardHandler)})
	defer m.Shutdown(b.Context())
	if err := m.Update([]Config{
		{Name: "0.0.0.0_9080", Address: "0.0.0.0:9080", TCP: &TCPProxy{Cluster: "c"}},
		{Name: "inbound|9080", Address: "198.18.0.5:9080", TCP: &TCPProxy{Cluster: "c"}},
	}); err != nil {
		b.Fatal(err)
	}
	dsts := []netip.AddrPort{netip.MustParseAddrPort("198.19.0.7:9080"), netip.MustParseAddrPort("198.18.0.5:9080")}
	req := strings.NewReader("GET / HTTP/1.1\r\nHost: reviews:9080\r\n\r\n")
	br := bufio.NewReaderSize(req, 512)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if m.lookupDst(dsts[i%2]) == nil {
			b.Fatal("no listener")
		}
		req.Seek(0, io.SeekStart)
		br.Reset(req)
		if !sniffHTTP(br) {
			b.Fatal("not HTTP")
		}
	}
}
