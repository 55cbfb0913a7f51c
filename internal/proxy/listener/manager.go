package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/h1server"
	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

// Options configures a Manager.
type Options struct {
	HCM      *hcm.Server
	Clusters hcm.ClusterSource
	Log      *slog.Logger
	// DrainTimeout bounds how long a removed listener waits for its
	// in-flight requests and connections.
	DrainTimeout time.Duration
	// Listen binds a socket; net.Listen when nil.
	Listen func(network, address string) (net.Listener, error)
	// TCPStats, when set, counts the tcp_proxy connections.
	TCPStats TCPStats
}

// state is the immutable view of every listener, bound or not.
type state struct {
	byName map[string]*Config
	// byPort holds the hand-off targets: HTTP and TCP listeners on a
	// wildcard address, by port.
	byPort map[string]*Config
	// byAddr holds the hand-off targets on a specific address (ip:port):
	// the inbound listeners of transparent mode.
	byAddr map[netip.AddrPort]*Config
	// byPortNum is byPort by number, for captured connections.
	byPortNum map[uint16]*Config
	// fallback is, by explicit listener name, the HTTP configuration of
	// requests to ports without a listener (explicit.go).
	fallback map[string]*hcm.Config
}

func newState(n int) *state {
	return &state{
		byName: make(map[string]*Config, n), byPort: make(map[string]*Config),
		byAddr: make(map[netip.AddrPort]*Config), byPortNum: make(map[uint16]*Config),
		fallback: make(map[string]*hcm.Config),
	}
}

// Manager owns the bound listeners. Update is serialised; request handling
// reads the current state through an atomic pointer.
type Manager struct {
	opts  Options
	ctx   context.Context // base context of every server and connection
	stop  context.CancelFunc
	state atomic.Pointer[state]
	wg    sync.WaitGroup // serve loops, drains, TCP connections

	mu     sync.Mutex
	bound  map[string]*boundListener
	closed bool
}

// NewManager returns a Manager with no listeners.
func NewManager(opts Options) *Manager {
	if opts.Listen == nil {
		opts.Listen = net.Listen
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 5 * time.Second
	}
	ctx, stop := context.WithCancel(context.Background())
	m := &Manager{opts: opts, ctx: ctx, stop: stop, bound: make(map[string]*boundListener)}
	m.state.Store(newState(0))
	return m
}

// Update makes cfgs the complete set of listeners. New listeners are bound,
// listeners whose address or kind changed are rebound, unchanged ones keep
// their socket and get the new configuration atomically, and removed ones
// are drained. If a socket cannot be bound nothing changes and the error is
// returned.
func (m *Manager) Update(cfgs []Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("listener: manager is closed")
	}
	st := newState(len(cfgs))
	for i := range cfgs {
		c := &cfgs[i]
		if _, dup := st.byName[c.Name]; dup {
			return fmt.Errorf("listener: duplicate listener name %q", c.Name)
		}
		st.byName[c.Name] = c
		if c.ExplicitProxy {
			if f, err := explicitFallback(c); err != nil {
				return fmt.Errorf("listener %q: %w", c.Name, err)
			} else if f != nil {
				st.fallback[c.Name] = f
			}
			continue
		}
		if c.HTTP == nil && !c.isTCP() {
			continue
		}
		if !c.isWildcard() {
			if ap, err := netip.ParseAddrPort(c.Address); err == nil {
				st.byAddr[ap] = c
			}
			continue
		}
		p := c.port()
		if prev, ok := st.byPort[p]; !ok || prev.BindToPort && !c.BindToPort {
			st.byPort[p] = c
			if n, err := strconv.ParseUint(p, 10, 16); err == nil {
				st.byPortNum[uint16(n)] = c
			}
		}
	}

	var (
		fresh    []*boundListener // bound by this update
		reuse    = map[*boundListener]*Config{}
		retire   []*boundListener // drained after the swap
		inPlace  []*boundListener // same address, new kind: closed before rebinding
		newBound = make(map[string]*boundListener, len(cfgs))
	)
	for _, c := range st.byName {
		old := m.bound[c.Name]
		if !c.BindToPort {
			if old != nil {
				retire = append(retire, old)
			}
			continue
		}
		if old != nil {
			oc := old.cfg.Load()
			if oc.Address == c.Address && oc.mode() == c.mode() {
				reuse[old] = c
				newBound[c.Name] = old
				continue
			}
			if oc.Address == c.Address {
				inPlace = append(inPlace, old)
			} else {
				retire = append(retire, old)
			}
		}
	}
	// A listener changing kind on the same address must release it first.
	for _, b := range inPlace {
		b.closeSocket()
		retire = append(retire, b)
	}
	for _, c := range st.byName {
		if !c.BindToPort || newBound[c.Name] != nil {
			continue
		}
		ln, err := m.opts.Listen("tcp", c.Address)
		if err != nil {
			for _, b := range fresh {
				_ = b.ln.Close()
			}
			return fmt.Errorf("listener: %q: bind %s: %w", c.Name, c.Address, err)
		}
		b := &boundListener{m: m, name: c.Name, ln: &onceCloseListener{Listener: ln}, conns: make(map[net.Conn]struct{})}
		b.cfg.Store(c)
		fresh = append(fresh, b)
		newBound[c.Name] = b
	}
	for _, b := range m.bound {
		if _, ok := st.byName[b.name]; !ok {
			retire = append(retire, b)
		}
	}

	// Commit.
	for b, c := range reuse {
		b.cfg.Store(c)
	}
	m.state.Store(st)
	m.bound = newBound
	for _, b := range fresh {
		b.start()
		c := b.cfg.Load()
		m.opts.Log.Info("listener bound", "listener", b.name, "address", b.ln.Addr().String(),
			"explicit_proxy", c.ExplicitProxy, "tcp", c.mode() == modeTCP)
	}
	for _, b := range retire {
		// Stop accepting now; in-flight requests drain in the background.
		b.closeSocket()
		m.opts.Log.Info("listener draining", "listener", b.name, "address", b.ln.Addr().String())
		m.wg.Go(func() { b.drain(m.opts.DrainTimeout) })
	}
	return nil
}

// Addr returns the bound address of a listener, or nil.
func (m *Manager) Addr(name string) net.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b := m.bound[name]; b != nil {
		return b.ln.Addr()
	}
	return nil
}

// Bound returns the names and addresses of the bound listeners.
func (m *Manager) Bound() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]string, len(m.bound))
	for n, b := range m.bound {
		out[n] = b.ln.Addr().String()
	}
	return out
}

// Shutdown drains every listener and waits for all of the manager's
// goroutines, or until ctx is done, when remaining connections are closed.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		for _, b := range m.bound {
			m.wg.Go(func() { b.drain(m.opts.DrainTimeout) })
		}
		m.bound = map[string]*boundListener{}
	}
	m.mu.Unlock()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		m.stop()
		return nil
	case <-ctx.Done():
		m.stop() // cancels TCP proxying and upstream dials
		<-done
		return ctx.Err()
	}
}

// lookupPort returns the hand-off target for a destination port.
func (m *Manager) lookupPort(port string) *Config {
	return m.state.Load().byPort[port]
}

// onceCloseListener makes Close idempotent, so that closing the socket early
// and http.Server.Shutdown closing it again do not conflict.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// boundListener is one listening socket and its servers.
type boundListener struct {
	m    *Manager
	name string
	cfg  atomic.Pointer[Config]
	ln   net.Listener

	srv  *http.Server     // modeHTTP: what fast hands over
	fast *h1server.Server // modeHTTP

	tunnelOnce sync.Once
	tunnels    *h1server.Server // CONNECT tunnels, captured connections
	tunnelSrv  *http.Server     // what tunnels hands over

	// conns are the connections proxied as TCP: a tcp_proxy listener's,
	// or an explicit proxy's CONNECT tunnels to TCP ports.
	connMu   sync.Mutex
	conns    map[net.Conn]struct{}
	draining bool
}

func (b *boundListener) start() {
	switch b.cfg.Load().mode() {
	case modeTCP:
		b.m.wg.Go(b.serveTCP)
		return
	case modeOriginalDst:
		b.m.wg.Go(b.serveOriginalDst)
		return
	}
	// HTTP/1.1 requests are served by h1server, which hands what it
	// does not serve (HTTP/2, upgrades, CONNECT, ...) to net/http.
	h := http.HandlerFunc(b.serveHTTP)
	b.srv = b.m.newHTTPServer(h, connSecurity)
	fallback := newConnListener(b.ln.Addr())
	b.fast = b.m.newH1Server(h, fallback.push)
	ln := b.ln
	if b.cfg.Load().Inbound {
		// Inbound listeners may get DownstreamTLS with any update.
		ln = &mtlsListener{Listener: b.ln, b: b}
	}
	b.m.wg.Go(func() { _ = b.srv.Serve(fallback) })
	b.m.wg.Go(func() { _ = b.fast.Serve(ln) })
}

// newH1Server is newHTTPServer's HTTP/1.1 front (see h1server).
func (m *Manager) newH1Server(h http.Handler, fallback func(net.Conn)) *h1server.Server {
	return &h1server.Server{
		Handler:           h,
		Fallback:          fallback,
		BaseContext:       func() context.Context { return m.ctx },
		ConnContext:       connSecurity,
		ReadHeaderTimeout: time.Minute,
		IdleTimeout:       10 * time.Minute,
		Log:               m.opts.Log,
	}
}

func (m *Manager) newHTTPServer(h http.Handler, connCtx func(context.Context, net.Conn) context.Context) *http.Server {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return &http.Server{
		Handler:           h,
		Protocols:         &p,
		ReadHeaderTimeout: time.Minute,
		IdleTimeout:       10 * time.Minute,
		ErrorLog:          slog.NewLogLogger(m.opts.Log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return m.ctx },
		ConnContext:       connCtx,
	}
}

func (b *boundListener) serveHTTP(w http.ResponseWriter, r *http.Request) {
	c := b.cfg.Load()
	if c.ExplicitProxy {
		b.serveExplicit(w, r)
		return
	}
	if c.HTTP == nil {
		b.m.reject(w, r, c.Name, http.StatusNotFound, hcm.NoRouteFound, "route not found")
		return
	}
	b.m.opts.HCM.Serve(w, r, c.Name, c.HTTP)
}

// closeSocket stops accepting without waiting for anything.
func (b *boundListener) closeSocket() { _ = b.ln.Close() }

// drain stops accepting, lets in-flight requests and connections finish for
// up to timeout, then closes what is left.
func (b *boundListener) drain(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(b.m.ctx, timeout)
	defer cancel()
	_ = b.ln.Close()
	var wg sync.WaitGroup
	wg.Go(func() { b.drainConns(ctx) })
	if b.fast != nil {
		wg.Go(func() {
			if err := b.fast.Shutdown(ctx); err != nil {
				_ = b.fast.Close()
			}
		})
	}
	if b.srv != nil {
		wg.Go(func() {
			if err := b.srv.Shutdown(ctx); err != nil {
				_ = b.srv.Close()
			}
		})
	}
	b.tunnelOnce.Do(func() {}) // no tunnel server may start after this
	if b.tunnels != nil {
		wg.Go(func() {
			if err := b.tunnels.Shutdown(ctx); err != nil {
				_ = b.tunnels.Close()
			}
		})
	}
	if b.tunnelSrv != nil {
		wg.Go(func() {
			if err := b.tunnelSrv.Shutdown(ctx); err != nil {
				_ = b.tunnelSrv.Close()
			}
		})
	}
	wg.Wait()
	b.m.opts.Log.Debug("listener drained", "listener", b.name)
}

func (m *Manager) reject(w http.ResponseWriter, r *http.Request, listener string, status int, f hcm.Flags, body string) {
	m.opts.HCM.Reject(w, r, listener, status, f, body)
}
