package listener

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

// serveTCP accepts connections of a tcp_proxy listener.
func (b *boundListener) serveTCP() {
	b.acceptLoop(func(c net.Conn) {
		b.goTracked(c, func() { b.m.proxyTCP(c, b.cfg.Load(), "") })
	})
}

// acceptLoop hands each accepted connection to handle until the listener
// is closed. A temporary failure (e.g. out of file descriptors) backs off.
func (b *boundListener) acceptLoop(handle func(net.Conn)) {
	var delay time.Duration
	for {
		c, err := b.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(delay):
			case <-b.m.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		handle(c)
	}
}

// goTracked runs serve for a connection the listener drains; the connection
// is closed when serve returns, or at once (and false returned) when the
// listener is draining.
func (b *boundListener) goTracked(c net.Conn, serve func()) bool {
	return b.goTrackedKeep(c, func() bool { serve(); return false })
}

// goTrackedKeep is goTracked for a serve that may hand the connection on:
// when it returns true the connection is forgotten, not closed.
func (b *boundListener) goTrackedKeep(c net.Conn, serve func() (kept bool)) bool {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	if b.draining {
		_ = c.Close()
		return false
	}
	b.conns[c] = struct{}{}
	// The drain goroutine counts in wg while draining is false, so this
	// Add never races a Wait at zero.
	b.m.wg.Go(func() {
		if !serve() {
			_ = c.Close()
		}
		b.untrack(c)
	})
	return true
}

func (b *boundListener) untrack(c net.Conn) {
	b.connMu.Lock()
	delete(b.conns, c)
	b.connMu.Unlock()
}

// tcpRoute is where one TCP connection goes: the chosen filter chain, and
// what the tls_inspector read from the connection.
type tcpRoute struct {
	tcp     *TCPProxy
	peeked  []byte // bytes read from downstream, to send upstream first
	sni     string
	dest    string // the original destination (CONNECT target), if known
	flags   hcm.Flags
	details string
	// For telemetry: when the connection started, the cluster, its
	// service, and the upstream host and its workload.
	start                  time.Time
	cluster, service       string
	upstreamHost, workload string
	peer                   string // the client's SPIFFE ID over mutual TLS
	upstreamPrincipal      string // the upstream host's SPIFFE ID over mutual TLS
}

// proxyTCP proxies one downstream connection by cfg's tcp_proxy.
func (m *Manager) proxyTCP(down net.Conn, cfg *Config, dest string) {
	down, peer := m.acceptTLS(down, cfg) // mtls.go
	if down == nil {
		return
	}
	rt := m.chooseChain(down, cfg, dest)
	if rt == nil {
		return
	}
	rt.peer = peer
	if !m.filterConn(down, cfg, rt) {
		m.logTCP(cfg, rt, errConnDenied)
		m.tcpOpened(cfg, rt)(0, 0)
		return
	}
	up, err := m.dialTCP(rt, down.RemoteAddr())
	done := m.tcpOpened(cfg, rt)
	if err != nil {
		m.logTCP(cfg, rt, err)
		done(0, 0)
		return
	}
	sent, received := m.pipe(down, up, rt.tcp.IdleTimeout, rt.peeked)
	done(sent, received)
}

// chooseChain selects the filter chain of a connection, reading its
// ClientHello when the chains match on server names. It returns nil (and
// logs) when no chain matches.
func (m *Manager) chooseChain(down net.Conn, cfg *Config, dest string) *tcpRoute {
	rt := &tcpRoute{tcp: cfg.TCP, dest: dest, start: time.Now()}
	if fc := cfg.Chains; fc != nil {
		if fc.NeedsSNI() {
			_ = down.SetReadDeadline(time.Now().Add(fc.InspectTimeout))
			name, data, err := readClientHello(down)
			_ = down.SetReadDeadline(time.Time{})
			rt.peeked, rt.sni = data, name
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout() && fc.ContinueOnTimeout:
			case err != nil:
				m.opts.Log.Debug("tcp proxy: tls_inspector", "listener", cfg.Name, "error", err)
				return nil
			}
		}
		rt.tcp = fc.Match(rt.sni)
	}
	if rt.tcp == nil {
		m.opts.Log.Debug("tcp proxy: no filter chain matches", "listener", cfg.Name, "sni", rt.sni)
		return nil
	}
	return rt
}

// dialTCP connects upstream for a chosen chain. Its errors carry the
// response flag (UO, UH, UF, NC).
func (m *Manager) dialTCP(rt *tcpRoute, src net.Addr) (net.Conn, error) {
	name := rt.tcp.PickCluster()
	cl := m.opts.Clusters.Get(name)
	if cl == nil {
		rt.flags, rt.details = hcm.NoClusterFound, "cluster not found: "+name
		return nil, errClusterNotFound
	}
	rt.cluster, rt.service = name, cl.Config().Service
	req := upstream.PickRequest{OriginalDst: rt.dest}
	if rt.tcp.HashSourceIP && src != nil {
		if ip, _, err := net.SplitHostPort(src.String()); err == nil {
			req.Hash, req.HasHash = upstream.HashString(ip), true
		}
	}
	up, host, err := cl.DialTCP(m.ctx, &req)
	if host != nil {
		rt.upstreamHost, rt.workload = host.Address, host.Workload
		if err == nil {
			rt.upstreamPrincipal = host.Principal()
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, upstream.ErrOverflow):
		rt.flags, rt.details = hcm.UpstreamOverflow, "max_connections of "+name
	case errors.Is(err, upstream.ErrNoHealthyUpstream):
		rt.flags, rt.details = hcm.NoHealthyUpstream, "no healthy upstream in "+name
	default:
		rt.flags, rt.details = hcm.UpstreamConnectionFailure, err.Error()
	}
	return up, err
}

var (
	errClusterNotFound = errors.New("listener: cluster not found")
	errConnDenied      = errors.New("listener: connection denied by a network filter")
)

// connDest is a connection's destination: its original destination when
// captured, else its local address, with the port of a CONNECT target
// (host:port) when it was tunnelled.
func connDest(dest string, down net.Conn) netip.AddrPort {
	if d, err := netip.ParseAddrPort(dest); err == nil {
		return netip.AddrPortFrom(d.Addr().Unmap(), d.Port())
	}
	local, _ := hcm.AddrPortOf(down.LocalAddr())
	if _, p, err := net.SplitHostPort(dest); err == nil {
		if port, err := strconv.ParseUint(p, 10, 16); err == nil {
			return netip.AddrPortFrom(local.Addr(), uint16(port))
		}
	}
	return local
}

// filterConn runs the chain's network filters; false: a filter refused
// the connection (its flags and details are in rt).
func (m *Manager) filterConn(down net.Conn, cfg *Config, rt *tcpRoute) bool {
	if len(rt.tcp.Filters) == 0 {
		return true
	}
	ci := ConnInfo{Listener: cfg.Name, Principal: rt.peer, SNI: rt.sni}
	if ci.SNI == "" {
		ci.SNI = tlsServerName(down)
	}
	ci.Source, _ = hcm.AddrPortOf(down.RemoteAddr())
	ci.Dest = connDest(rt.dest, down)
	for _, f := range rt.tcp.Filters {
		if ok, flags, details := f.OnConnection(&ci); !ok {
			rt.flags, rt.details = flags, details
			if cl := m.opts.Clusters.Get(rt.tcp.PickCluster()); cl != nil {
				rt.service = cl.Config().Service
			}
			return false
		}
	}
	return true
}

func (m *Manager) logTCP(cfg *Config, rt *tcpRoute, err error) {
	m.opts.Log.Debug("tcp proxy: connection refused", "listener", cfg.Name, "flags", rt.flags.String(),
		"details", rt.details, "sni", rt.sni, "error", err)
}

// pipe copies between the connections until both directions are done, the
// connection is idle for idle (if > 0), or the manager stops. It returns
// the bytes sent downstream and received from downstream.
func (m *Manager) pipe(down, up net.Conn, idle time.Duration, prefix []byte) (sent, received int64) {
	defer up.Close()
	stop := context.AfterFunc(m.ctx, func() { _ = up.Close(); _ = down.Close() })
	defer stop()
	if len(prefix) > 0 {
		n, err := up.Write(prefix)
		received += int64(n)
		if err != nil {
			return sent, received
		}
	}
	if idle <= 0 {
		toUp, toDown := copyBoth(down, up)
		return toDown, received + toUp
	}
	w := &idleWatch{idle: idle, a: down, b: up, start: time.Now()}
	w.mu.Lock()
	w.t = time.AfterFunc(idle, w.check)
	w.mu.Unlock()
	defer w.stop()
	var wg sync.WaitGroup
	var toUp int64
	wg.Go(func() { toUp = w.copy(up, down) })
	sent = w.copy(down, up)
	wg.Wait()
	return sent, received + toUp
}

// idleWatch closes both connections once no byte moved for idle: Envoy's
// tcp_proxy idle_timeout.
type idleWatch struct {
	idle  time.Duration
	a, b  net.Conn
	start time.Time
	last  atomic.Int64 // since start, of the last read on either side

	mu sync.Mutex
	t  *time.Timer
}

func (w *idleWatch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	quiet := time.Since(w.start) - time.Duration(w.last.Load())
	if quiet >= w.idle {
		_ = w.a.Close()
		_ = w.b.Close()
		return
	}
	w.t.Reset(w.idle - quiet)
}

func (w *idleWatch) stop() {
	w.mu.Lock()
	w.t.Stop()
	w.mu.Unlock()
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copy moves src to dst, noting activity, then half-closes dst. It
// returns the bytes written.
func (w *idleWatch) copy(dst, src net.Conn) (written int64) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 {
			w.last.Store(int64(time.Since(w.start)))
			m, werr := dst.Write(buf[:n])
			written += int64(m)
			if werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	closeWrite(dst)
	return written
}

// copyBoth copies between two connections until both directions are done
// and returns the bytes copied each way.
func copyBoth(a, b net.Conn) (aToB, bToA int64) {
	var wg sync.WaitGroup
	wg.Go(func() {
		aToB, _ = io.Copy(b, a)
		closeWrite(b)
	})
	bToA, _ = io.Copy(a, b)
	closeWrite(a)
	wg.Wait()
	return aToB, bToA
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

// drainConns stops new tracked connections and waits for the current ones
// until ctx is done, then closes them.
func (b *boundListener) drainConns(ctx context.Context) {
	b.connMu.Lock()
	b.draining = true
	b.connMu.Unlock()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		b.connMu.Lock()
		n := len(b.conns)
		if n == 0 || ctx.Err() != nil {
			for c := range b.conns {
				_ = c.Close()
			}
			b.connMu.Unlock()
			return
		}
		b.connMu.Unlock()
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}
