package upstream

import (
	"context"
	"crypto/tls"
	"errors"
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

// tlsHost returns the cluster's host at addr (nil if it is no longer one)
// and whether it is dialled with the cluster's TLS: every host with
// AllHosts, else those that take mutual TLS.
func (c *Cluster) tlsHost(t *TLS, addr string) (*Host, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.byAddr[addr]
	return h, t.AllHosts || (h != nil && h.MTLS)
}

// secure runs the TLS handshake over conn when the cluster's host at addr
// takes TLS; otherwise it returns conn unchanged. On error conn is
// closed.
func (c *Cluster) secure(ctx context.Context, cfg *Config, conn net.Conn, addr string) (net.Conn, error) {
	if cfg.TLS == nil {
		return conn, nil
	}
	h, ok := c.tlsHost(cfg.TLS, addr)
	if !ok {
		return conn, nil
	}
	return handshake(ctx, cfg, conn, h)
}

// handshake runs the client handshake with h (nil: a host no longer in
// the cluster) within the cluster's connect timeout and notes the
// principal h presented; on error conn is closed.
func handshake(ctx context.Context, cfg *Config, conn net.Conn, h *Host) (*tls.Conn, error) {
	if cfg.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.ConnectTimeout)
		defer cancel()
	}
	tc := tls.Client(conn, cfg.TLS.Config)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, &HandshakeError{Err: err}
	}
	if h != nil {
		h.peer.note(tc.ConnectionState())
	}
	return tc, nil
}

// HandshakeError is a failed TLS handshake with an upstream host (inside
// a *DialError): Envoy's transport failure.
type HandshakeError struct{ Err error }

func (e *HandshakeError) Error() string { return "tls: " + e.Err.Error() }
func (e *HandshakeError) Unwrap() error { return e.Err }

// TransportFailure returns the reason of the failed TLS handshake in err,
// or "" when err is not one.
func TransportFailure(err error) string {
	var he *HandshakeError
	if errors.As(err, &he) {
		return he.Error()
	}
	return ""
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
// in plaintext or with TLS origination, or no handshake has completed
// yet. An address is one pod, so every connection to it presents the
// same identity: a request over any of them reports it without
// per-connection bookkeeping.
func (h *Host) Principal() string {
	if !h.MTLS || h.peer == nil || h.cluster == nil {
		return ""
	}
	if t := h.cluster.cfg.Load().TLS; t == nil || t.AllHosts {
		return ""
	}
	if p := h.peer.principal.Load(); p != nil {
		return *p
	}
	return ""
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
