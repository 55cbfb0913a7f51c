package listener

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/h1server"
	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/router"
)

// serveExplicit handles a request to an explicit-proxy listener: a proxy
// request in absolute form, an origin-form request with Host, or CONNECT.
// The destination port selects the listener whose HCM handles it.
func (b *boundListener) serveExplicit(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		b.serveConnect(w, r)
		return
	}
	port := hostPort(r.Host, "80")
	b.handOff(w, r, port)
}

func (b *boundListener) handOff(w http.ResponseWriter, r *http.Request, port string) {
	st := b.m.state.Load()
	t := st.byPort[port]
	if t == nil {
		// No listener on that port: the explicit listener's own cluster.
		if f := st.fallback[b.name]; f != nil {
			b.m.opts.HCM.Serve(w, r, b.name, f)
			return
		}
	}
	if t == nil || t.HTTP == nil {
		b.m.reject(w, r, b.name, http.StatusNotFound, hcm.NoRouteFound, "route not found")
		return
	}
	b.m.opts.HCM.Serve(w, r, t.Name, t.HTTP)
}

// explicitFallback is how an explicit listener serves a plain HTTP request
// for a port no listener has: its own filter chain's cluster (the one a
// captured connection to that port would reach, PassthroughCluster or
// BlackHoleCluster by the outbound traffic policy), behind a route table of
// one virtual host for every host, with the chain's access logs. nil when
// the listener has no single-cluster chain.
func explicitFallback(c *Config) (*hcm.Config, error) {
	if c.TCP == nil || c.TCP.Cluster == "" {
		return nil, nil
	}
	table, err := router.NewTable(c.Name, []router.VirtualHostConfig{{
		Name: c.TCP.Cluster, Domains: []string{"*"},
		Routes: []router.RouteConfig{{Name: c.TCP.Cluster, Match: router.Match{PathKind: router.PathPrefix, Path: "/"}, Action: router.Action{Cluster: c.TCP.Cluster}}},
	}})
	if err != nil {
		return nil, err
	}
	return &hcm.Config{Routes: table, AccessLogs: c.TCP.AccessLogs, Metrics: c.Metrics}, nil
}

// serveConnect answers a CONNECT to a port with an HTTP listener with 200
// and then serves the tunnelled bytes as HTTP/1.1 or h2c with that
// listener's routing, request by request. A CONNECT to a port with a TCP
// listener is that listener's connection (see connectTCP), and so is one
// to a port without a listener, for the explicit listener's own tcp_proxy.
func (b *boundListener) serveConnect(w http.ResponseWriter, r *http.Request) {
	port := hostPort(r.Host, "")
	if port == "" {
		b.m.reject(w, r, b.name, http.StatusBadRequest, 0, "CONNECT target must be host:port")
		return
	}
	t := b.m.lookupPort(port)
	if t == nil {
		// No listener on that port: the explicit listener's own chain,
		// as its use_original_dst would do with a captured connection
		// (PassthroughCluster to the CONNECT target under ALLOW_ANY,
		// BlackHoleCluster under REGISTRY_ONLY).
		t = b.m.state.Load().byName[b.name]
		if t == nil || !t.isTCP() {
			b.m.reject(w, r, b.name, http.StatusNotFound, hcm.NoRouteFound, "route not found")
			return
		}
	}
	if r.ProtoMajor != 1 {
		b.m.reject(w, r, b.name, http.StatusNotImplemented, 0, "CONNECT is supported over HTTP/1.1 only")
		return
	}
	if t.HTTP == nil {
		b.connectTCP(w, r, t)
		return
	}
	tl := b.tunnelListener()
	if tl == nil {
		b.m.reject(w, r, b.name, http.StatusServiceUnavailable, 0, "listener draining")
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		b.m.reject(w, r, b.name, http.StatusInternalServerError, 0, "cannot hijack connection")
		return
	}
	_ = conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, "HTTP/1.1 200 OK\r\n\r\n"); err != nil {
		_ = conn.Close()
		return
	}
	tl.ServeConn(newTunnelConn(conn, brw.Reader, port))
}

// tunnelListener returns the server of this listener's CONNECT tunnels and
// captured connections, starting it on first use; nil once draining. Like
// a listener's own, it is an h1server in front of a net/http server.
func (b *boundListener) tunnelListener() *h1server.Server {
	b.tunnelOnce.Do(func() {
		h := http.HandlerFunc(b.serveTunnelled)
		fallback := newConnListener(b.ln.Addr())
		b.tunnelSrv = b.m.newHTTPServer(h, tunnelConnContext)
		b.tunnels = b.m.newH1Server(h, fallback.push)
		b.tunnels.ConnContext = tunnelConnContext
		b.m.wg.Go(func() { _ = b.tunnelSrv.Serve(fallback) })
	})
	return b.tunnels
}

func (b *boundListener) serveTunnelled(w http.ResponseWriter, r *http.Request) {
	tc, _ := r.Context().Value(tunnelConnKey{}).(*tunnelConn)
	if tc == nil {
		b.m.reject(w, r, b.name, http.StatusNotFound, hcm.NoRouteFound, "route not found")
		return
	}
	if tc.listener == "" {
		b.handOff(w, r, tc.port)
		return
	}
	// A connection captured transparently: served by the listener of its
	// original destination, as configured now.
	t := b.m.state.Load().byName[tc.listener]
	if t == nil || t.HTTP == nil {
		b.m.reject(w, r, b.name, http.StatusNotFound, hcm.NoRouteFound, "route not found")
		return
	}
	b.m.opts.HCM.Serve(w, r, t.Name, t.HTTP)
}

type tunnelConnKey struct{}

func tunnelConnContext(ctx context.Context, c net.Conn) context.Context {
	if nc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = nc.NetConn() // handed over by h1server
	}
	if tc, ok := c.(*tunnelConn); ok {
		ctx = hcm.WithConnSecurity(context.WithValue(ctx, tunnelConnKey{}, tc), tc)
		if tc.dst.IsValid() {
			ctx = hcm.WithConnDestination(ctx, tc.dst)
		}
		return ctx
	}
	return ctx
}

// tunnelConn is a hijacked CONNECT connection: bytes the client sent after
// the CONNECT request (already buffered) are read first.
type tunnelConn struct {
	net.Conn
	r    io.Reader
	port string
	// listener, when set, names the listener that serves the connection
	// (a transparently captured one) instead of a hand-off by port.
	listener string
	// peer is the client's SPIFFE ID when the listener terminated mutual
	// TLS on it, and sni the server name the client sent.
	peer, sni string
	// dst is the original destination of a captured connection.
	dst netip.AddrPort
}

// PeerPrincipal implements hcm.ConnSecurity.
func (c *tunnelConn) PeerPrincipal() (string, bool) { return c.peer, c.peer != "" }

// ServerName implements hcm.ConnSecurity.
func (c *tunnelConn) ServerName() string { return c.sni }

func newTunnelConn(c net.Conn, br *bufio.Reader, port string) *tunnelConn {
	tc := &tunnelConn{Conn: c, r: c, port: port}
	if n := br.Buffered(); n > 0 {
		buf, _ := br.Peek(n)
		tc.r = io.MultiReader(bytes.NewReader(bytes.Clone(buf)), c)
	}
	return tc
}

func (c *tunnelConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite half-closes the client connection when it can.
func (c *tunnelConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// connListener is a net.Listener fed by push.
type connListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{ch: make(chan net.Conn), done: make(chan struct{}), addr: addr}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

func (l *connListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		_ = c.Close()
	}
}

// hostPort returns the port of a host[:port], or def.
func hostPort(host, def string) string {
	i := strings.LastIndexByte(host, ':')
	if i < 0 || strings.IndexByte(host[i:], ']') >= 0 {
		return def
	}
	p := host[i+1:]
	if p == "" {
		return def
	}
	for j := 0; j < len(p); j++ {
		if p[j] < '0' || p[j] > '9' {
			return def
		}
	}
	return p
}
