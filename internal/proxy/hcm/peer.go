package hcm

import "context"

// ConnSecurity is what the listener learned of a downstream connection's
// transport: for a mutual-TLS connection, the peer's SPIFFE ID.
type ConnSecurity interface {
	// PeerPrincipal returns the peer's SPIFFE ID and true when the
	// connection is mutual TLS; "" and false for plaintext.
	PeerPrincipal() (string, bool)
}

type connSecurityKey struct{}

// WithConnSecurity returns a connection context that carries s; requests
// of the connection report its principal (RequestInfo.PeerPrincipal).
func WithConnSecurity(ctx context.Context, s ConnSecurity) context.Context {
	return context.WithValue(ctx, connSecurityKey{}, s)
}

// connSecurity fills in the request's peer principal from its connection.
func connSecurity(ctx context.Context, info *RequestInfo) {
	if s, ok := ctx.Value(connSecurityKey{}).(ConnSecurity); ok {
		info.PeerPrincipal, info.MutualTLS = s.PeerPrincipal()
	}
}
