// Package listener binds the proxy's listeners (from LDS), serves them and
// drains them when they go away. It also implements the explicit-proxy
// outbound listener: requests and CONNECT tunnels are handed to the
// listener of the destination port, as Envoy's use_original_dst does.
package listener

import (
	"net"

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
	Inbound       bool
	// Exactly one of HTTP and TCP is set.
	HTTP *hcm.Config
	TCP  *TCPProxy
}

// TCPProxy is a tcp_proxy network filter.
type TCPProxy struct {
	Cluster string
}

type mode uint8

const (
	modeHTTP mode = iota // HCM or explicit proxy: an http.Server
	modeTCP
)

func (c *Config) mode() mode {
	if c.ExplicitProxy || c.HTTP != nil {
		return modeHTTP
	}
	return modeTCP
}

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
