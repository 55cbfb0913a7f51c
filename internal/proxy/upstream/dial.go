package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync/atomic"
)

// ErrNoHealthyUpstream is returned when a cluster has no host to pick:
// Envoy's UH.
var ErrNoHealthyUpstream = errors.New("upstream: no healthy upstream")

// DialTCP opens a TCP proxy connection to one of the cluster's hosts: it
// takes one of max_connections (ErrOverflow), picks a host
// (ErrNoHealthyUpstream) and connects with the cluster's connect timeout
// and keepalive (a *DialError, Envoy's UF), over TLS when the host takes
// it (a failed handshake is a *DialError too). Connect failures and
// successes count for outlier detection. Closing the connection frees the slot and
// the host's active count.
func (c *Cluster) DialTCP(ctx context.Context, req *PickRequest) (net.Conn, *Host, error) {
	if !c.admitConnection() {
		return nil, nil, ErrOverflow
	}
	h := c.Pick(req)
	if h == nil {
		c.conns.Add(-1)
		return nil, nil, ErrNoHealthyUpstream
	}
	h.Active.Add(1)
	conn, err := c.dialer.Load().DialContext(ctx, "tcp", h.Address)
	if cfg := c.cfg.Load(); err == nil && cfg.TLS != nil && (h.MTLS || cfg.TLS.AllHosts) {
		var tc *tls.Conn
		if tc, err = handshake(ctx, cfg, conn, h); err == nil {
			h.Report(Outcome{})
			return &tlsTCPConn{Conn: tc, h: h}, h, nil
		}
	}
	if err != nil {
		h.Active.Add(-1)
		c.conns.Add(-1)
		h.Report(Outcome{ConnectFailure: true})
		return nil, h, &DialError{Addr: h.Address, Err: err}
	}
	h.Report(Outcome{})
	return &tcpConn{TCPConn: conn.(*net.TCPConn), h: h}, h, nil
}

// tcpConn is an upstream TCP proxy connection. It embeds *net.TCPConn so
// that io.Copy keeps its splice and sendfile paths.
type tcpConn struct {
	*net.TCPConn
	h    *Host
	done atomic.Bool
}

// Close closes the connection and frees its slot.
func (t *tcpConn) Close() error {
	if t.done.CompareAndSwap(false, true) {
		t.h.Active.Add(-1)
		t.h.cluster.conns.Add(-1)
	}
	return t.TCPConn.Close()
}
