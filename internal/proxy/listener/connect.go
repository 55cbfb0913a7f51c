package listener

import (
	"io"
	"net"
	"net/http"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

// connectTCP serves a CONNECT whose port has a TCP listener: the tunnel is
// a connection of that listener, proxied by its tcp_proxy. When the filter
// chain does not depend on the ClientHello, the upstream connection is
// made first, so that a failure is answered 503 with its flag (UO, UH,
// UF) instead of 200; otherwise (or when the chain has network filters,
// which see the tunnel first) the tunnel is opened and the chain is
// chosen by the SNI of the ClientHello sent through it.
func (b *boundListener) connectTCP(w http.ResponseWriter, r *http.Request, t *Config) {
	var (
		rt *tcpRoute
		up net.Conn
	)
	if t.Chains == nil || !t.Chains.NeedsSNI() {
		rt = b.m.chooseChain(nil, t, r.Host)
		if rt == nil {
			b.m.reject(w, r, b.name, http.StatusNotFound, hcm.NoRouteFound, "no filter chain matches")
			return
		}
	}
	// Network filters see the tunnel itself: no upstream before them.
	if rt != nil && len(rt.tcp.Filters) == 0 {
		var err error
		if up, err = b.m.dialTCP(rt, remoteAddr(r)); err != nil {
			b.m.logTCP(t, rt, err)
			b.m.reject(w, r, b.name, http.StatusServiceUnavailable, rt.flags, hcm.ConnectFailureBody(rt.flags))
			return
		}
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		if up != nil {
			_ = up.Close()
		}
		b.m.reject(w, r, b.name, http.StatusInternalServerError, 0, "cannot hijack connection")
		return
	}
	_ = conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, "HTTP/1.1 200 OK\r\n\r\n"); err != nil {
		_ = conn.Close()
		if up != nil {
			_ = up.Close()
		}
		return
	}
	down := newTunnelConn(conn, brw.Reader, "")
	dest := r.Host
	ok := b.goTracked(down, func() {
		if up == nil {
			if rt == nil {
				if rt = b.m.chooseChain(down, t, dest); rt == nil {
					return
				}
			}
			if !b.m.filterConn(down, t, rt) {
				b.m.logTCP(t, rt, errConnDenied)
				b.m.tcpOpened(t, rt)(0, 0)
				return
			}
			var err error
			if up, err = b.m.dialTCP(rt, down.RemoteAddr()); err != nil {
				b.m.tcpOpened(t, rt)(0, 0)
				b.m.logTCP(t, rt, err)
				return
			}
		}
		done := b.m.tcpOpened(t, rt)
		done(b.m.pipe(down, up, rt.tcp.IdleTimeout, rt.peeked))
	})
	if !ok && up != nil {
		_ = up.Close()
	}
}

func remoteAddr(r *http.Request) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", r.RemoteAddr)
	if err != nil {
		return nil
	}
	return a
}
