package listener

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

// tagServer answers every connection with its tag, then echoes.
func tagServer(t *testing.T, tag string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, tag+"\n")
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// tlsServer is an HTTPS server that answers with its tag and the SNI it saw.
func tlsServer(t *testing.T, tag string) *httptest.Server {
	t.Helper()
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s sni=%s", tag, r.TLS.ServerName)
	}))
	t.Cleanup(s.Close)
	return s
}

type tcpWorld struct {
	m     *Manager
	um    *upstream.Manager
	proxy string // the explicit proxy's address
	mu    sync.Mutex
	infos []hcm.RequestInfo
}

// newTCPWorld starts an explicit proxy with the given hidden listeners and
// static clusters (name → addresses).
func newTCPWorld(t *testing.T, clusters map[string][]string, limits map[string]*upstream.Thresholds, ls ...Config) *tcpWorld {
	t.Helper()
	w := &tcpWorld{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w.um = upstream.NewManager(log)
	var cfgs []upstream.Config
	for name, addrs := range clusters {
		c := upstream.Config{Name: name, Type: upstream.Static, ConnectTimeout: time.Second, Limits: limits[name]}
		if name == "PassthroughCluster" {
			c.Type = upstream.OriginalDst
		}
		for _, a := range addrs {
			c.Endpoints = append(c.Endpoints, upstream.EndpointConfig{Address: a, Weight: 1})
		}
		cfgs = append(cfgs, c)
	}
	if err := w.um.UpdateClusters(cfgs); err != nil {
		t.Fatal(err)
	}
	onDone := func(i *hcm.RequestInfo) { w.mu.Lock(); w.infos = append(w.infos, *i); w.mu.Unlock() }
	w.m = NewManager(Options{
		HCM:          hcm.NewServer(hcm.Options{Routes: noRoutes{}, Clusters: w.um, Log: log, OnDone: onDone}),
		Clusters:     w.um,
		Log:          log,
		DrainTimeout: 200 * time.Millisecond,
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := w.m.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		w.um.Close()
	})
	all := append([]Config{{Name: "virtualOutbound", Address: "127.0.0.1:0", BindToPort: true, ExplicitProxy: true,
		TCP: &TCPProxy{Cluster: "PassthroughCluster"}}}, ls...)
	if err := w.m.Update(all); err != nil {
		t.Fatal(err)
	}
	w.proxy = w.m.Addr("virtualOutbound").String()
	return w
}

// connect opens a CONNECT tunnel; it returns the connection and the status.
func (w *tcpWorld) connect(t *testing.T, target string) (net.Conn, *bufio.Reader, int) {
	t.Helper()
	c, err := net.Dial("tcp", w.proxy)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return c, br, resp.StatusCode
}

func (w *tcpWorld) lastFlags() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.infos) == 0 {
		return ""
	}
	return w.infos[len(w.infos)-1].Flags.String()
}

func hidden(port int, tp *TCPProxy) Config {
	return Config{Name: fmt.Sprintf("0.0.0.0_%d", port), Address: fmt.Sprintf("0.0.0.0:%d", port), TCP: tp}
}

func TestConnectToTCPListener(t *testing.T) {
	a, b, c := tagServer(t, "a"), tagServer(t, "b"), tagServer(t, "c")
	_, cPort, _ := net.SplitHostPort(c)
	var port int
	fmt.Sscan(cPort, &port)
	w := newTCPWorld(t, map[string][]string{"a": {a}, "b": {b}, "none": nil, "full": {a}, "PassthroughCluster": nil},
		map[string]*upstream.Thresholds{"full": {MaxConnections: 0}},
		hidden(5432, &TCPProxy{Weighted: []WeightedCluster{{"a", 80}, {"b", 20}}}),
		hidden(5433, &TCPProxy{Cluster: "none"}),
		hidden(5434, &TCPProxy{Cluster: "full"}),
		hidden(5435, &TCPProxy{Cluster: "missing"}),
		hidden(port, &TCPProxy{Cluster: "PassthroughCluster"}),
	)
	// ORIGINAL_DST: the CONNECT target is the destination.
	if _, br, code := w.connect(t, c); code != 200 {
		t.Fatalf("CONNECT %s through PassthroughCluster: %d", c, code)
	} else if tag, _ := br.ReadString('\n'); tag != "c\n" {
		t.Errorf("passthrough reached %q", tag)
	}
	counts := map[string]int{}
	const n = 200
	for range n {
		c, br, code := w.connect(t, "db:5432")
		if code != 200 {
			t.Fatalf("CONNECT db:5432: %d", code)
		}
		tag, _ := br.ReadString('\n')
		fmt.Fprint(c, "ping\n")
		if echo, _ := br.ReadString('\n'); echo != "ping\n" {
			t.Fatalf("echo %q", echo)
		}
		counts[strings.TrimSpace(tag)]++
		c.Close()
	}
	t.Logf("weighted 80/20 over %d connections: %v", n, counts)
	if counts["a"] < 140 || counts["a"] > 180 {
		t.Errorf("weighted split %v", counts)
	}
	for _, tc := range []struct {
		target string
		code   int
		flags  string
	}{
		{"db:5433", 503, "UH"}, {"db:5434", 503, "UO"}, {"db:5435", 503, "NC"},
		// No listener on 5999: the explicit listener's own tcp_proxy,
		// PassthroughCluster to db:5999, a name that does not resolve.
		{"db:5999", 503, "UF"},
	} {
		if _, _, code := w.connect(t, tc.target); code != tc.code || w.lastFlags() != tc.flags {
			t.Errorf("CONNECT %s: %d %s, want %d %s", tc.target, code, w.lastFlags(), tc.code, tc.flags)
		}
	}
	// A port without a listener: the explicit listener's PassthroughCluster.
	d := tagServer(t, "d")
	if _, br, code := w.connect(t, d); code != 200 {
		t.Errorf("CONNECT %s (no listener on its port): %d", d, code)
	} else if tag, _ := br.ReadString('\n'); tag != "d\n" {
		t.Errorf("passthrough reached %q", tag)
	}
	// A plain HTTP request to a TCP port has no route.
	req, _ := http.NewRequest("GET", "http://db:5432/", nil)
	resp, err := (&http.Transport{Proxy: func(*http.Request) (*urlT, error) { return urlOf(w.proxy), nil }}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET to a TCP port: %d", resp.StatusCode)
	}
}

func TestConnectSNI(t *testing.T) {
	eu, us, other := tlsServer(t, "eu"), tlsServer(t, "us"), tlsServer(t, "wild")
	chains, err := NewFilterChains([]FilterChain{
		{ServerNames: []string{"eu.api.example.com"}, TCP: &TCPProxy{Cluster: "eu"}},
		{ServerNames: []string{"api.example.com", "us.api.example.com"}, TCP: &TCPProxy{Cluster: "us"}},
		{ServerNames: []string{"*.example.com"}, TCP: &TCPProxy{Cluster: "wild"}},
	}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	w := newTCPWorld(t, map[string][]string{
		"eu": {eu.Listener.Addr().String()}, "us": {us.Listener.Addr().String()}, "wild": {other.Listener.Addr().String()},
	}, nil, Config{Name: "0.0.0.0_443", Address: "0.0.0.0:443", Chains: chains})

	for _, tc := range []struct{ sni, want string }{
		{"eu.api.example.com", "eu sni=eu.api.example.com"},
		{"api.example.com", "us sni=api.example.com"},
		{"US.api.example.com", "us sni=US.api.example.com"}, // matched case-insensitively
		{"x.y.example.com", "wild sni=x.y.example.com"},
		{"example.org", ""}, // no chain: the tunnel closes
		{"", ""},            // no SNI: the tunnel closes
	} {
		c, br, code := w.connect(t, "api.example.com:443")
		if code != 200 {
			t.Fatalf("CONNECT: %d", code)
		}
		tc2 := tls.Client(&bufConn{Conn: c, r: br}, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true})
		_ = tc2.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(tc2, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(tc2), nil)
		got := ""
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			got = string(b)
		}
		if got != tc.want {
			t.Errorf("SNI %q: %q (err %v), want %q", tc.sni, got, err, tc.want)
		}
		c.Close()
	}
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func TestTCPIdleTimeout(t *testing.T) {
	a := tagServer(t, "a")
	w := newTCPWorld(t, map[string][]string{"a": {a}}, nil,
		hidden(5432, &TCPProxy{Cluster: "a", IdleTimeout: 300 * time.Millisecond}))
	c, br, code := w.connect(t, "db:5432")
	if code != 200 {
		t.Fatal(code)
	}
	br.ReadString('\n')
	// Activity keeps it open past the timeout.
	for range 4 {
		time.Sleep(50 * time.Millisecond) // activity, well within the timeout
		fmt.Fprint(c, "x\n")
		if s, err := br.ReadString('\n'); err != nil || s != "x\n" {
			t.Fatalf("active connection: %q %v", s, err)
		}
	}
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadString('\n'); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", d)
	}
}

func TestBoundTCPListenerSNIAndDrain(t *testing.T) {
	eu := tlsServer(t, "eu")
	a := tagServer(t, "a")
	chains, err := NewFilterChains([]FilterChain{
		{ServerNames: []string{"eu.example.com"}, TCP: &TCPProxy{Cluster: "eu"}},
		{TCP: &TCPProxy{Cluster: "a"}},
	}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	w := newTCPWorld(t, map[string][]string{"eu": {eu.Listener.Addr().String()}, "a": {a}}, nil,
		Config{Name: "inbound|443", Address: "127.0.0.1:0", BindToPort: true, Chains: chains})
	addr := w.m.Addr("inbound|443").String()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: "eu.example.com", InsecureSkipVerify: true}}}
	resp, err := hc.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	hc.CloseIdleConnections()
	if string(b) != "eu sni=eu.example.com" {
		t.Errorf("TLS through a bound listener: %q", b)
	}
	// Plain TCP data matches the chain without server_names.
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	fmt.Fprint(raw, "hello\n")
	br := bufio.NewReader(raw)
	if tag, _ := br.ReadString('\n'); tag != "a\n" {
		t.Errorf("plain TCP went to %q", tag)
	}
	if echo, _ := br.ReadString('\n'); echo != "hello\n" {
		t.Errorf("peeked bytes not replayed: %q", echo)
	}
	// Removing the listener drains it: the open connection is closed after
	// the drain timeout.
	if err := w.m.Update(nil); err != nil {
		t.Fatal(err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadString('\n'); err != io.EOF {
		t.Errorf("drained connection: %v, want EOF", err)
	}
}

func TestFilterChainsMatch(t *testing.T) {
	p := func(n string) *TCPProxy { return &TCPProxy{Cluster: n} }
	f, err := NewFilterChains([]FilterChain{
		{ServerNames: []string{"a.example.com"}, TCP: p("exact")},
		{ServerNames: []string{"*.example.com"}, TCP: p("wild")},
		{ServerNames: []string{"*.b.example.com"}, TCP: p("wild-b")},
	}, p("default"), true)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"a.example.com": "exact", "x.example.com": "wild", "x.b.example.com": "wild-b", "y.x.b.example.com": "wild-b",
		"b.example.com": "wild", "example.com": "default", "": "default", "other.org": "default",
	} {
		if got := f.Match(name); got.Cluster != want {
			t.Errorf("%q: %s, want %s", name, got.Cluster, want)
		}
	}
	for _, bad := range [][]FilterChain{
		{{TCP: p("a")}, {TCP: p("b")}},
		{{ServerNames: []string{"x.com"}, TCP: p("a")}, {ServerNames: []string{"X.com"}, TCP: p("b")}},
		{{ServerNames: []string{"*x.com"}, TCP: p("a")}},
	} {
		if _, err := NewFilterChains(bad, nil, true); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	noInspector, _ := NewFilterChains([]FilterChain{{ServerNames: []string{"a"}, TCP: p("a")}}, nil, false)
	if noInspector.NeedsSNI() || noInspector.Match("") != nil {
		t.Error("without tls_inspector server_names chains never match")
	}
}

type urlT = url.URL

func urlOf(hostport string) *url.URL { return &url.URL{Scheme: "http", Host: hostport} }
