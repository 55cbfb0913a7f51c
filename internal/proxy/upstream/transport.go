package upstream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"
)

// DialError marks a failure to connect to an upstream host.
type DialError struct {
	Addr string
	Err  error
}

func (e *DialError) Error() string { return fmt.Sprintf("upstream: connect to %s: %v", e.Addr, e.Err) }
func (e *DialError) Unwrap() error { return e.Err }

// IsDialError reports whether err is a failure to connect upstream.
func IsDialError(err error) bool {
	var de *DialError
	return errors.As(err, &de)
}

// defaultKeepAlive is the TCP keepalive idle time of upstream connections
// without upstream_connection_options.tcp_keepalive.
const defaultKeepAlive = 30 * time.Second

// poolKey holds every setting that needs a new http.Transport when it
// changes; other changes keep the pool and its connections.
type poolKey struct {
	protocol        Protocol
	connectTimeout  time.Duration
	keepalive       Keepalive
	hasKeepalive    bool
	idleTimeout     time.Duration
	maxConnsPerHost int
	http2           HTTP2Options
	tls             string // TLS.Key; "" for plaintext
}

func poolKeyOf(cfg *Config) poolKey {
	k := poolKey{protocol: cfg.Protocol, connectTimeout: cfg.ConnectTimeout, idleTimeout: cfg.Pool.IdleTimeout,
		maxConnsPerHost: maxConnsPerHost(cfg), http2: cfg.Pool.HTTP2}
	if cfg.TLS != nil {
		k.tls = "tls:" + cfg.TLS.Key
	}
	if ka := cfg.Pool.TCPKeepalive; ka != nil {
		k.keepalive, k.hasKeepalive = *ka, true
	}
	return k
}

// maxConnsPerHost is max_connections as http.Transport enforces it: per
// host, so exact for one host and an upper bound per host otherwise (the
// admission limits the cluster's requests as a whole). HTTP/2 multiplexes
// on one connection per host, so it is not limited.
func maxConnsPerHost(cfg *Config) int {
	t := DefaultThresholds
	if cfg.Limits != nil {
		t = *cfg.Limits
	}
	if cfg.Protocol != HTTP1 || t.MaxConnections >= math.MaxInt32 {
		return 0
	}
	return max(int(t.MaxConnections), 1)
}

func newDialer(cfg *Config) *net.Dialer {
	d := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: defaultKeepAlive}
	if ka := cfg.Pool.TCPKeepalive; ka != nil {
		kc := net.KeepAliveConfig{Enable: true, Idle: -1, Interval: -1, Count: -1}
		if ka.Time > 0 {
			kc.Idle = ka.Time
		}
		if ka.Interval > 0 {
			kc.Interval = ka.Interval
		}
		if ka.Probes > 0 {
			kc.Count = int(ka.Probes)
		}
		d.KeepAliveConfig = kc
	}
	return d
}

// dialFunc dials counted upstream connections of the cluster, over mutual
// TLS to the hosts that take it (the HTTP protocol then runs inside TLS as
// it would in plaintext: HTTP/1.1, or HTTP/2 with prior knowledge).
func (c *Cluster) dialFunc(cfg *Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := newDialer(cfg)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		// The connection counts from the dial on: a request that arrives
		// while it is being set up (TCP, then the TLS handshake) waits for
		// it rather than counting as pending beside the request that
		// caused it.
		c.conns.Add(1)
		conn, err := d.DialContext(ctx, network, addr)
		if err == nil {
			conn, err = c.secure(ctx, cfg, conn, addr)
		}
		if err != nil {
			c.conns.Add(-1)
			return nil, &DialError{Addr: addr, Err: err}
		}
		return &poolConn{Conn: conn, c: c}, nil
	}
}

// pools are a cluster's HTTP connection pools for one pool key.
type pools struct {
	t  *http.Transport
	h1 *h1Pool // nil when requests cannot bypass t (see h1Pool)
}

func newPools(c *Cluster, cfg *Config) *pools {
	dial := c.dialFunc(cfg)
	p := &pools{t: newTransport(dial, cfg)}
	if cfg.Protocol == HTTP1 && maxConnsPerHost(cfg) == 0 {
		p.h1 = newH1Pool(dial, cfg.Pool.IdleTimeout)
	}
	return p
}

// connPools returns the cluster's pools, making them for its current
// configuration at the first use.
func (c *Cluster) connPools() *pools {
	for {
		if p := c.pools.Load(); p != nil {
			return p
		}
		cfg := c.cfg.Load()
		p := newPools(c, cfg)
		if !c.pools.CompareAndSwap(nil, p) {
			continue
		}
		if c.cfg.Load() == cfg {
			return p
		}
		// A new configuration arrived meanwhile: its pools are made anew.
		if c.pools.CompareAndSwap(p, nil) {
			p.close(true)
		}
	}
}

// close closes the idle connections; with stop, also those that go idle
// later.
func (p *pools) close(stop bool) {
	p.t.CloseIdleConnections()
	if p.h1 != nil {
		p.h1.closeIdle(stop)
	}
}

func newTransport(dial func(ctx context.Context, network, addr string) (net.Conn, error), cfg *Config) *http.Transport {
	t := &http.Transport{
		DialContext:            dial,
		Proxy:                  nil, // never use the environment's proxy
		MaxConnsPerHost:        maxConnsPerHost(cfg),
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        cfg.Pool.IdleTimeout,
		DisableCompression:     true, // a proxy passes bodies through
		MaxResponseHeaderBytes: 1 << 20,
	}
	if n := t.MaxConnsPerHost; n > 0 && n < t.MaxIdleConnsPerHost {
		t.MaxIdleConnsPerHost = n
	}
	var p http.Protocols
	if cfg.Protocol == H2C {
		p.SetUnencryptedHTTP2(true)
		h2 := cfg.Pool.HTTP2
		t.HTTP2 = &http.HTTP2Config{
			MaxReceiveBufferPerStream:     int(h2.InitialStreamWindowSize),
			MaxReceiveBufferPerConnection: int(h2.InitialConnectionWindowSize),
			MaxDecoderHeaderTableSize:     int(h2.HpackTableSize),
			SendPingTimeout:               h2.KeepaliveInterval,
			PingTimeout:                   h2.KeepaliveTimeout,
		}
	} else {
		p.SetHTTP1(true)
	}
	t.Protocols = &p
	return t
}

// poolConn is one upstream connection of a cluster's pool: it is counted
// while open and counts the requests it carried.
type poolConn struct {
	net.Conn
	c        *Cluster
	requests atomic.Uint32
	closed   atomic.Bool
}

func (p *poolConn) Close() error {
	if p.closed.CompareAndSwap(false, true) {
		p.c.conns.Add(-1)
	}
	return p.Conn.Close()
}

// RoundTrip sends one request over the cluster's connection pool: it is
// Transport().RoundTrip plus max_requests_per_connection, which
// http.Transport has no setting for: the request that reaches the limit on
// its connection is sent with "Connection: close", so the connection ends
// with its response.
func (c *Cluster) RoundTrip(req *http.Request) (*http.Response, error) {
	res, _, err := c.Exchange(req)
	return res, err
}

// Exchange is RoundTrip that also reports whether req went over the
// cluster's own HTTP/1.1 pool, on the caller's goroutine: nothing then
// refers to req once the response's body is closed, where http.Transport's
// connection goroutines may still use a request after its round trip
// returned.
func (c *Cluster) Exchange(req *http.Request) (res *http.Response, direct bool, err error) {
	p := c.connPools()
	cfg := c.cfg.Load()
	n := cfg.Pool.MaxRequestsPerConnection
	if p.h1 != nil && n == 0 && h1Eligible(req) {
		res, err = p.h1.roundTrip(req)
		return res, true, err
	}
	if n > 0 && cfg.Protocol == HTTP1 {
		out := req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) {
				if pc, ok := info.Conn.(*poolConn); ok && pc.requests.Add(1) >= n {
					req.Close = true
				}
			},
		}))
		req = out
	}
	res, err = p.t.RoundTrip(req)
	return res, false, err
}

var _ http.RoundTripper = (*Cluster)(nil)
