package hcm

import (
	"context"
	"net"
	"net/http"
	"net/netip"
)

// ConnSecurity is what the listener learned of a downstream connection's
// transport: for a mutual-TLS connection, the peer's SPIFFE ID and the
// server name the client asked for.
type ConnSecurity interface {
	// PeerPrincipal returns the peer's SPIFFE ID and true when the
	// connection is mutual TLS; "" and false for plaintext.
	PeerPrincipal() (string, bool)
	// ServerName is the SNI of the client's TLS handshake; "" for
	// plaintext or when the client sent none.
	ServerName() string
}

type connSecurityKey struct{}

// WithConnSecurity returns a connection context that carries s; requests
// of the connection report its principal (RequestInfo.PeerPrincipal).
func WithConnSecurity(ctx context.Context, s ConnSecurity) context.Context {
	return context.WithValue(ctx, connSecurityKey{}, s)
}

// ConnSecurityFrom returns the ConnSecurity of a request's connection, or
// nil when it has none (a plaintext-only listener).
func ConnSecurityFrom(ctx context.Context) ConnSecurity {
	s, _ := ctx.Value(connSecurityKey{}).(ConnSecurity)
	return s
}

// connSecurity fills in the request's peer principal from its connection.
func connSecurity(ctx context.Context, info *RequestInfo) {
	if s, ok := ctx.Value(connSecurityKey{}).(ConnSecurity); ok {
		info.PeerPrincipal, info.MutualTLS = s.PeerPrincipal()
	}
}

type connDestKey struct{}

// WithConnDestination returns a connection context that carries the
// connection's original destination (a transparently captured
// connection), which differs from its local address.
func WithConnDestination(ctx context.Context, dst netip.AddrPort) context.Context {
	return context.WithValue(ctx, connDestKey{}, dst)
}

// ConnDestination returns the destination of a request's connection: its
// original destination when captured, else the local address it was
// accepted on. false when neither is known.
func ConnDestination(ctx context.Context) (netip.AddrPort, bool) {
	if d, ok := ctx.Value(connDestKey{}).(netip.AddrPort); ok {
		return d, true
	}
	if a, ok := ctx.Value(http.LocalAddrContextKey).(net.Addr); ok {
		return AddrPortOf(a)
	}
	return netip.AddrPort{}, false
}

// AddrPortOf converts a socket address without allocating for TCP
// addresses.
func AddrPortOf(a net.Addr) (netip.AddrPort, bool) {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	if a == nil {
		return netip.AddrPort{}, false
	}
	return parseAddrPort(a.String())
}
