package listener

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
)

// A listener with use_original_dst that is bound (virtualOutbound on
// 0.0.0.0:15001, virtualInbound on 0.0.0.0:15006 in transparent mode)
// accepts connections the pod's capture rules redirected to it and hands
// each to the listener of its original destination, as Envoy does: the
// listener bound to that exact address (an inbound listener at the pod's
// IP and port), else the wildcard listener of that port (an outbound
// service port). A connection no listener wants goes through the accepting
// listener's own filter chain (PassthroughCluster or BlackHoleCluster) to
// its original destination.

// serveOriginalDst accepts connections of a use_original_dst listener.
func (b *boundListener) serveOriginalDst() {
	b.acceptLoop(func(c net.Conn) {
		b.goTrackedKeep(c, func() bool { return b.dispatch(c) })
	})
}

// dispatch finds the connection's listener and serves it there. It
// reports whether the connection was handed to an HTTP server, which then
// owns it.
func (b *boundListener) dispatch(c net.Conn) bool {
	self := b.cfg.Load()
	dst, redirected, err := originalDst(c)
	if err != nil || !redirected {
		// A connection made to the listener itself has nowhere to go (passing
		// it through would connect to this listener again).
		b.m.opts.Log.Debug("not a captured connection", "listener", self.Name, "local", c.LocalAddr().String(), "error", err)
		return false
	}
	t := b.m.lookupDst(dst)
	if t == nil || t == self || t.ExplicitProxy {
		b.m.proxyTCP(c, self, dst.String())
		return false
	}
	if t.HTTP == nil {
		b.m.proxyTCP(c, t, dst.String())
		return false
	}
	// An HTTP listener: after its mutual TLS, if any, the bytes must be
	// HTTP (sniffed as Istio does on ports it detects), otherwise the
	// connection is plain TCP to where it was going.
	var peer string
	if t.DownstreamTLS != nil {
		if c, peer = b.m.acceptTLS(c, t); c == nil { // mtls.go
			return false
		}
	}
	br := bufio.NewReaderSize(c, 512)
	if !sniffHTTP(br) {
		b.m.proxyTCP(&peekedConn{Conn: c, r: br}, self, dst.String())
		return false
	}
	tl := b.tunnelListener()
	if tl == nil {
		return false
	}
	tc := newTunnelConn(c, br, "")
	tc.listener, tc.peer, tc.sni, tc.dst = t.Name, peer, tlsServerName(c), dst
	tl.ServeConn(tc)
	return true
}

// lookupDst returns the hand-off target for an original destination.
func (m *Manager) lookupDst(dst netip.AddrPort) *Config {
	st := m.state.Load()
	if c := st.byAddr[dst]; c != nil {
		return c
	}
	return st.byPortNum[dst.Port()]
}

// httpMethods are the request-line starts that make a connection HTTP/1.x;
// "PRI * HTTP/2.0" is the HTTP/2 preface.
var httpMethods = [][]byte{
	[]byte("GET "), []byte("POST "), []byte("PUT "), []byte("DELETE "), []byte("HEAD "),
	[]byte("OPTIONS "), []byte("PATCH "), []byte("CONNECT "), []byte("TRACE "), []byte("PRI * HTTP/2"),
}

// sniffHTTP reads until the first bytes tell HTTP/1.x or the HTTP/2
// preface from anything else (a TLS ClientHello starts with 0x16), without
// consuming them.
func sniffHTTP(br *bufio.Reader) bool {
	for n := 1; n <= 12; n++ {
		p, err := br.Peek(n)
		if len(p) < n {
			return false
		}
		candidate := false
		for _, m := range httpMethods {
			k := min(len(m), len(p))
			if bytes.Equal(p[:k], m[:k]) {
				if k == len(m) {
					return true
				}
				candidate = true
			}
		}
		if !candidate || err != nil {
			return false
		}
	}
	return false
}

// peekedConn is a connection whose first bytes were read into r.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite half-closes the connection when it can.
func (c *peekedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// notRedirected returns the connection's local address.
func notRedirected(c net.Conn) (netip.AddrPort, bool, error) {
	ap, err := netip.ParseAddrPort(c.LocalAddr().String())
	if err != nil {
		return netip.AddrPort{}, false, fmt.Errorf("listener: local address %s: %w", c.LocalAddr(), err)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), false, nil
}
