package upstream

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync/atomic"
)

// TLS is a cluster's upstream TLS: either Istio's auto mutual TLS, the
// transport socket Envoy's transport_socket_matches select for endpoints
// whose metadata has tlsMode "istio" (endpoints without it are dialled in
// plaintext), or TLS origination, the cluster's own transport_socket,
// for every endpoint (AllHosts).
type TLS struct {
	// Config is the client config (certificate, roots, SANs, ALPN, SNI);
	// for auto mutual TLS it reads the current identity at every
	// handshake.
	Config *tls.Config
	// Key identifies the settings: a cluster whose Key changes gets new
	// connection pools, one whose Key stays keeps its connections.
	Key string
	// AllHosts dials every endpoint with Config, whatever its metadata.
	AllHosts bool
}

// tlsHost reports whether the cluster's host at addr is dialled with the
// cluster's TLS.
func (c *Cluster) tlsHost(t *TLS, addr string) bool {
	if t.AllHosts {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.byAddr[addr]
	return h != nil && h.MTLS
}

// secure runs the TLS handshake over conn when the cluster's host at addr
// takes TLS; otherwise it returns conn unchanged. On error conn is
// closed.
func (c *Cluster) secure(ctx context.Context, cfg *Config, conn net.Conn, addr string) (net.Conn, error) {
	if cfg.TLS == nil || !c.tlsHost(cfg.TLS, addr) {
		return conn, nil
	}
	return handshake(ctx, cfg, conn)
}

// handshake runs the client handshake within the cluster's connect
// timeout; on error conn is closed.
func handshake(ctx context.Context, cfg *Config, conn net.Conn) (*tls.Conn, error) {
	if cfg.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.ConnectTimeout)
		defer cancel()
	}
	tc := tls.Client(conn, cfg.TLS.Config)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("tls: %w", err)
	}
	return tc, nil
}

// tlsTCPConn is an upstream TCP proxy connection over TLS.
type tlsTCPConn struct {
	*tls.Conn
	h    *Host
	done atomic.Bool
}

// Close closes the connection and frees its slot.
func (t *tlsTCPConn) Close() error {
	if t.done.CompareAndSwap(false, true) {
		t.h.Active.Add(-1)
		t.h.cluster.conns.Add(-1)
	}
	return t.Conn.Close()
}
