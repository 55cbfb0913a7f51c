package listener

import (
	"fmt"
	"strings"
	"time"
)

// DefaultInspectTimeout is Envoy's listener_filters_timeout: how long the
// tls_inspector waits for a ClientHello.
const DefaultInspectTimeout = 15 * time.Second

// FilterChain is one tcp_proxy filter chain and its filter_chain_match.
type FilterChain struct {
	// ServerNames are filter_chain_match.server_names: exact names or
	// "*.suffix" wildcards; empty matches any connection.
	ServerNames []string
	TCP         *TCPProxy
}

// FilterChains selects a listener's filter chain for a connection as Envoy
// does by server name: an exact name first, then the longest wildcard
// suffix, then the chain without server_names, then the default chain. It
// is immutable.
type FilterChains struct {
	// TLSInspector is set when the listener has the tls_inspector listener
	// filter; without it no server name is known and only chains without
	// server_names (or the default chain) match.
	TLSInspector bool
	// InspectTimeout bounds the wait for the ClientHello; then the
	// connection is closed, or matched without a server name when
	// ContinueOnTimeout.
	InspectTimeout    time.Duration
	ContinueOnTimeout bool

	exact    map[string]*TCPProxy
	wildcard map[string]*TCPProxy // by suffix, with its leading dot
	any      *TCPProxy
	fallback *TCPProxy // default_filter_chain
}

// NewFilterChains indexes chains. Two chains with the same server name (or
// two without any) are an error, as in Envoy.
func NewFilterChains(chains []FilterChain, defaultChain *TCPProxy, tlsInspector bool) (*FilterChains, error) {
	f := &FilterChains{TLSInspector: tlsInspector, InspectTimeout: DefaultInspectTimeout,
		exact: map[string]*TCPProxy{}, wildcard: map[string]*TCPProxy{}, fallback: defaultChain}
	for i, c := range chains {
		if c.TCP == nil {
			return nil, fmt.Errorf("filter chain #%d has no tcp_proxy", i)
		}
		if len(c.ServerNames) == 0 {
			if f.any != nil {
				return nil, fmt.Errorf("filter chain #%d: more than one filter chain matches every connection", i)
			}
			f.any = c.TCP
			continue
		}
		for _, n := range c.ServerNames {
			n = strings.ToLower(n)
			m, key := f.exact, n
			if suffix, ok := strings.CutPrefix(n, "*"); ok {
				if !strings.HasPrefix(suffix, ".") || len(suffix) < 2 {
					return nil, fmt.Errorf("filter chain #%d: invalid server name %q", i, n)
				}
				m, key = f.wildcard, suffix
			}
			if _, dup := m[key]; dup {
				return nil, fmt.Errorf("filter chain #%d: server name %q is matched by another filter chain", i, n)
			}
			m[key] = c.TCP
		}
	}
	return f, nil
}

// NeedsSNI reports whether choosing the chain needs the ClientHello.
func (f *FilterChains) NeedsSNI() bool {
	return f.TLSInspector && len(f.exact)+len(f.wildcard) > 0
}

// Match returns the chain for a server name ("" when none is known), or
// nil when no chain matches: the connection is closed.
func (f *FilterChains) Match(serverName string) *TCPProxy {
	if serverName != "" {
		if t := f.exact[serverName]; t != nil {
			return t
		}
		// "a.b.example.com" tries ".b.example.com", then ".example.com",
		// then ".com": the most specific wildcard wins.
		for i := strings.IndexByte(serverName, '.'); i >= 0; {
			if i > 0 {
				if t := f.wildcard[serverName[i:]]; t != nil {
					return t
				}
			}
			j := strings.IndexByte(serverName[i+1:], '.')
			if j < 0 {
				break
			}
			i += j + 1
		}
	}
	if f.any != nil {
		return f.any
	}
	return f.fallback
}
