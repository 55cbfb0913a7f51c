package listener

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/spiffe"
)

// DownstreamTLS is an inbound listener's mutual TLS: a filter chain
// matching transport_protocol "tls" with a DownstreamTlsContext that
// requires a client certificate and, under PERMISSIVE, a second chain
// matching "raw_buffer" with the same filters. The first byte of a
// connection tells them apart (a TLS record starts with 0x16).
type DownstreamTLS struct {
	// Config presents the workload certificate and verifies the client's
	// chain to the mesh root.
	Config *tls.Config
	// AllowPlaintext accepts connections that do not start with a TLS
	// handshake (PERMISSIVE); otherwise they are closed (STRICT).
	AllowPlaintext bool
}

// errPlaintextRefused closes a plaintext connection to a listener that
// only takes mutual TLS.
var errPlaintextRefused = errors.New("listener: plaintext connection refused (mutual TLS required)")

// recordTypeHandshake is the first byte of a TLS connection.
const recordTypeHandshake = 0x16

// accept reads the first byte of c and terminates TLS when it starts a
// handshake. It returns the connection to read the application's bytes
// from and the client's SPIFFE ID ("" for plaintext).
func (d *DownstreamTLS) accept(c net.Conn) (net.Conn, string, error) {
	br := bufio.NewReaderSize(c, 512)
	first, err := br.Peek(1)
	if err != nil {
		return nil, "", fmt.Errorf("listener: first byte: %w", err)
	}
	pc := &peekedConn{Conn: c, r: br}
	if first[0] != recordTypeHandshake {
		if !d.AllowPlaintext {
			return nil, "", errPlaintextRefused
		}
		return pc, "", nil
	}
	tc := tls.Server(pc, d.Config)
	if err := tc.Handshake(); err != nil {
		return nil, "", fmt.Errorf("listener: mutual TLS handshake: %w", err)
	}
	cs := tc.ConnectionState()
	if len(cs.PeerCertificates) == 0 {
		return nil, "", errors.New("listener: mutual TLS: the client sent no certificate")
	}
	id, err := spiffe.FromCertificate(cs.PeerCertificates[0])
	if err != nil {
		return nil, "", fmt.Errorf("listener: mutual TLS: %w", err)
	}
	return tc, id, nil
}

// mtlsListener wraps the socket of an HTTP listener with DownstreamTLS:
// each connection finds out on its first read or write (in the HTTP
// server's goroutine for the connection, under its deadlines) whether it
// is TLS.
type mtlsListener struct {
	net.Listener
	b *boundListener
}

func (l *mtlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	d := l.b.cfg.Load().DownstreamTLS
	if d == nil {
		return c, nil // plaintext only: the socket itself
	}
	return &mtlsConn{Conn: c, d: d}, nil
}

// mtlsConn is a downstream connection of a listener with DownstreamTLS.
// Deadlines and Close go to the socket.
type mtlsConn struct {
	net.Conn // the socket
	d        *DownstreamTLS
	once     sync.Once
	inner    net.Conn // *tls.Conn or the plaintext connection
	peer     string
	sni      string
	err      error
}

func (c *mtlsConn) init() error {
	c.once.Do(func() {
		c.inner, c.peer, c.err = c.d.accept(c.Conn)
		c.sni = tlsServerName(c.inner)
	})
	return c.err
}

func (c *mtlsConn) Read(p []byte) (int, error) {
	if err := c.init(); err != nil {
		return 0, err
	}
	return c.inner.Read(p)
}

func (c *mtlsConn) Write(p []byte) (int, error) {
	if err := c.init(); err != nil {
		return 0, err
	}
	return c.inner.Write(p)
}

// PeerPrincipal implements hcm.ConnSecurity; the HTTP server reads a
// request only after init, so the result is settled by then.
func (c *mtlsConn) PeerPrincipal() (string, bool) {
	if c.init() != nil || c.peer == "" {
		return "", false
	}
	return c.peer, true
}

// ServerName implements hcm.ConnSecurity.
func (c *mtlsConn) ServerName() string {
	if c.init() != nil {
		return ""
	}
	return c.sni
}

// tlsServerName is the SNI of a terminated TLS connection, "" otherwise.
func tlsServerName(c net.Conn) string {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.ConnectionState().ServerName
	}
	return ""
}

// connSecurity is the HTTP servers' ConnContext: requests see their
// connection's mutual TLS.
func connSecurity(ctx context.Context, c net.Conn) context.Context {
	if nc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = nc.NetConn() // handed over by h1server
	}
	if mc, ok := c.(*mtlsConn); ok {
		return hcm.WithConnSecurity(ctx, mc)
	}
	return ctx
}

// acceptTLS terminates a TCP connection's mutual TLS, if the listener has
// any, within the inspect timeout. nil: the connection is refused.
func (m *Manager) acceptTLS(c net.Conn, cfg *Config) (net.Conn, string) {
	d := cfg.DownstreamTLS
	if d == nil {
		return c, ""
	}
	_ = c.SetDeadline(time.Now().Add(DefaultInspectTimeout))
	out, peer, err := d.accept(c)
	_ = c.SetDeadline(time.Time{})
	if err != nil {
		m.opts.Log.Debug("connection refused", "listener", cfg.Name, "remote", c.RemoteAddr().String(), "error", err)
		return nil, ""
	}
	return out, peer
}
