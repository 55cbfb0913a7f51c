// Package listener binds the proxy's listeners (from LDS), serves them and
// drains them when they go away. It also implements the explicit-proxy
// outbound listener: requests and CONNECT tunnels are handed to the
// listener of the destination port, as Envoy's use_original_dst does; a
// CONNECT to a TCP or TLS port is proxied by that listener's tcp_proxy.
package listener

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

// Config is the compiled form of an Envoy Listener.
type Config struct {
	Name    string
	Address string // host:port as configured ("0.0.0.0:9080", "127.0.0.1:0")
	// BindToPort is false for listeners reachable only by hand-off.
	BindToPort bool
	// ExplicitProxy is set by the halyard.listener.explicit_proxy listener
	// filter: the listener is an HTTP proxy (absolute-form, Host, CONNECT).
	ExplicitProxy bool
	// UseOriginalDst hands each accepted connection to the listener of its
	// original destination (SO_ORIGINAL_DST): transparent capture.
	UseOriginalDst bool
	Inbound        bool
	// DownstreamTLS terminates mutual TLS on an inbound listener (and
	// refuses plaintext unless PERMISSIVE); nil: plaintext only.
	DownstreamTLS *DownstreamTLS
	// Metrics is the listener's metric overrides, opaque here (package
	// stats's *Overrides); also in HTTP.Metrics.
	Metrics any
	// Exactly one of HTTP, TCP and Chains is set (an explicit proxy may
	// also have TCP, its own filter chain, which it does not use).
	HTTP *hcm.Config
	// TCP is the tcp_proxy of a listener with one filter chain that
	// matches every connection.
	TCP *TCPProxy
	// Chains are the tcp_proxy filter chains of a listener that selects
	// one per connection (several chains, or server_names matches).
	Chains *FilterChains
}

// TCPProxy is a tcp_proxy network filter.
type TCPProxy struct {
	// Cluster, or Weighted when it is empty: one cluster per connection,
	// drawn by weight.
	Cluster  string
	Weighted []WeightedCluster
	// IdleTimeout closes the connection after that long without bytes in
	// either direction; 0 never does. (compile fills in Envoy's 1h.)
	IdleTimeout time.Duration
	// HashSourceIP is hash_policy source_ip: the downstream address is the
	// hash key for RING_HASH and MAGLEV clusters.
	HashSourceIP bool
	// AccessLogs write one entry per connection when it closes.
	AccessLogs []hcm.AccessLogger
	// Filters are the network filters before the tcp_proxy, in chain
	// order (envoy.filters.network.rbac).
	Filters []ConnFilter
}

// ConnFilter is a network filter before a tcp_proxy: it sees each
// connection once, after its mutual TLS and its filter chain's choice and
// before the upstream is dialled.
type ConnFilter interface {
	// OnConnection returns false to close the connection, with the
	// response flags and details its access log and metrics record.
	OnConnection(c *ConnInfo) (ok bool, flags hcm.Flags, details string)
}

// ConnInfo is what network filters see of a downstream connection.
type ConnInfo struct {
	Listener string
	// Source is the peer's address, Dest the connection's original
	// destination when captured, else its local address.
	Source, Dest netip.AddrPort
	// Principal is the client's SPIFFE ID over mutual TLS, else "".
	Principal string
	// SNI is the server name of the client's TLS handshake (terminated
	// mutual TLS, or read by the tls_inspector).
	SNI string
}

// WeightedCluster is one entry of tcp_proxy weighted_clusters.
type WeightedCluster struct {
	Name   string
	Weight uint32
}

// PickCluster returns the cluster of one connection.
func (t *TCPProxy) PickCluster() string {
	if len(t.Weighted) == 0 {
		return t.Cluster
	}
	var total uint64
	for _, w := range t.Weighted {
		total += uint64(w.Weight)
	}
	if total == 0 {
		return t.Weighted[0].Name
	}
	r := rand.Uint64N(total)
	for _, w := range t.Weighted {
		if r < uint64(w.Weight) {
			return w.Name
		}
		r -= uint64(w.Weight)
	}
	return t.Weighted[len(t.Weighted)-1].Name
}

type mode uint8

const (
	modeHTTP mode = iota // HCM or explicit proxy: an http.Server
	modeTCP
	modeOriginalDst // transparent capture: hand-off by original destination
)

func (c *Config) mode() mode {
	switch {
	case c.ExplicitProxy || c.HTTP != nil && !c.UseOriginalDst:
		return modeHTTP
	case c.UseOriginalDst:
		return modeOriginalDst
	}
	return modeTCP
}

// isTCP reports whether the listener proxies TCP connections.
func (c *Config) isTCP() bool { return c.HTTP == nil && (c.TCP != nil || c.Chains != nil) }

// port returns the configured port, "" if the address is malformed.
func (c *Config) port() string {
	_, p, err := net.SplitHostPort(c.Address)
	if err != nil {
		return ""
	}
	return p
}

// isWildcard reports whether the listener's address is 0.0.0.0 or ::.
func (c *Config) isWildcard() bool {
	h, _, err := net.SplitHostPort(c.Address)
	if err != nil {
		return false
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsUnspecified()
}
