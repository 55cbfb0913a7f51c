package upstream

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync/atomic"
)

// TLS is a cluster's mutual TLS: the transport socket Envoy's
// transport_socket_matches select for endpoints whose metadata has
// tlsMode "istio". Endpoints without it are dialled in plaintext.
type TLS struct {
	// Config is the client config (certificate, trust bundle, SANs, ALPN);
	// it reads the current identity at every handshake.
	Config *tls.Config
	// Key identifies the settings: a cluster whose Key changes gets new
	// connection pools, one whose Key stays keeps its connections.
	Key string
}

// mtlsHost returns the cluster's host at addr when it takes mutual TLS.
func (c *Cluster) mtlsHost(addr string) *Host {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.byAddr[addr]; h != nil && h.MTLS {
		return h
	}
	return nil
}

// secure runs the TLS handshake over conn when the cluster's host at addr
// takes mutual TLS; otherwise it returns conn unchanged. On error conn is
// closed.
func (c *Cluster) secure(ctx context.Context, cfg *Config, conn net.Conn, addr string) (net.Conn, error) {
	if cfg.TLS == nil {
		return conn, nil
	}
	h := c.mtlsHost(addr)
	if h == nil {
		return conn, nil
	}
	return handshake(ctx, cfg, conn, h)
}

// handshake runs the client handshake with h within the cluster's connect
// timeout and notes the principal h presented; on error conn is closed.
func handshake(ctx context.Context, cfg *Config, conn net.Conn, h *Host) (*tls.Conn, error) {
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
	h.peer.note(tc.ConnectionState())
	return tc, nil
}

// hostPeer is what the handshakes with an address learned of its peer.
type hostPeer struct {
	principal atomic.Pointer[string]
}

// note records the URI SAN (SPIFFE ID) of the peer's certificate, once
// per handshake.
func (p *hostPeer) note(cs tls.ConnectionState) {
	if p == nil || len(cs.PeerCertificates) == 0 || len(cs.PeerCertificates[0].URIs) != 1 {
		return
	}
	id := cs.PeerCertificates[0].URIs[0].String()
	if cur := p.principal.Load(); cur == nil || *cur != id {
		p.principal.Store(&id)
	}
}

// Principal returns the SPIFFE ID the host presented at the last
// mutual-TLS handshake with its address, or "" when the cluster dials it
// in plaintext or no handshake has completed yet. An address is one pod,
// so every connection to it presents the same identity: a request over
// any of them reports it without per-connection bookkeeping.
func (h *Host) Principal() string {
	if !h.MTLS || h.peer == nil || h.cluster == nil || h.cluster.cfg.Load().TLS == nil {
		return ""
	}
	if p := h.peer.principal.Load(); p != nil {
		return *p
	}
	return ""
}

// tlsTCPConn is an upstream TCP proxy connection over mutual TLS.
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
