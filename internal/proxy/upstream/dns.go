package upstream

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LookupFunc resolves a host name to its addresses, as
// net.Resolver.LookupNetIP with network "ip".
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// WithLookup makes STRICT_DNS clusters resolve their names with f instead
// of the system resolver.
func WithLookup(f LookupFunc) Option { return func(m *Manager) { m.lookup = f } }

func systemLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// DNSLookupFamily is a DNS cluster's dns_lookup_family.
type DNSLookupFamily uint8

// Lookup families, as Envoy's.
const (
	// Auto: the IPv6 addresses, or the IPv4 ones when there are none
	// (Envoy's default).
	Auto DNSLookupFamily = iota
	V4Only
	V6Only
	// V4Preferred: the IPv4 addresses, or the IPv6 ones when there are
	// none.
	V4Preferred
	// All: every address.
	All
)

// DefaultDNSRefreshRate is Envoy's dns_refresh_rate.
const DefaultDNSRefreshRate = 5 * time.Second

// dnsTimeout bounds one round of lookups.
const dnsTimeout = 5 * time.Second

// dnsState is a STRICT_DNS cluster's resolution, as Envoy's: every
// refresh, each endpoint whose address is a name becomes one host per
// address it resolves to. A name whose lookup fails keeps its previous
// addresses; until its first answer it stays one host, resolved when a
// connection is made.
type dnsState struct {
	key      string // the endpoints, family and refresh rate resolved
	cancel   context.CancelFunc
	timer    Timer
	last     map[string][]netip.Addr // by name: the last answer
	resolved []EndpointConfig        // nil before the first round
}

// dnsKey identifies what a STRICT_DNS configuration resolves.
func dnsKey(cfg *Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%s", cfg.DNSLookupFamily, cfg.DNSRefreshRate)
	for _, ep := range cfg.Endpoints {
		fmt.Fprintf(&b, "|%s/%d/%s/%t", ep.Address, ep.Weight, ep.Workload, ep.MTLS)
	}
	return b.String()
}

// dnsEndpointsLocked returns the endpoints of a STRICT_DNS cluster, and
// (re)starts its resolution when what it resolves changed; for any other
// type it stops a resolution left from a previous configuration and
// returns eps. Callers hold c.mu.
func (c *Cluster) dnsEndpointsLocked(cfg *Config, eps []EndpointConfig) []EndpointConfig {
	if cfg.Type != StrictDNS {
		c.stopDNSLocked()
		return eps
	}
	key := dnsKey(cfg)
	if c.dns != nil && c.dns.key == key {
		if c.dns.resolved != nil {
			return c.dns.resolved
		}
		return eps
	}
	c.stopDNSLocked()
	ctx, cancel := context.WithCancel(context.Background())
	d := &dnsState{key: key, cancel: cancel, last: map[string][]netip.Addr{}}
	c.dns = d
	c.scheduleDNSLocked(ctx, d, cfg, 0)
	return eps
}

// scheduleDNSLocked runs a round of lookups after delay, on the cluster's
// clock. Callers hold c.mu.
func (c *Cluster) scheduleDNSLocked(ctx context.Context, d *dnsState, cfg *Config, delay time.Duration) {
	d.timer = c.clock.AfterFunc(delay, func() {
		lctx, cancel := context.WithTimeout(ctx, dnsTimeout)
		resolved := resolveEndpoints(lctx, c.lookup, cfg, d.last)
		cancel()
		c.mu.Lock()
		defer c.mu.Unlock()
		if ctx.Err() != nil || c.dns != d || c.removed {
			return
		}
		d.resolved = resolved
		c.setHostsLocked(resolved, false)
		every := cfg.DNSRefreshRate
		if every <= 0 {
			every = DefaultDNSRefreshRate
		}
		c.scheduleDNSLocked(ctx, d, cfg, every)
	})
}

// stopDNSLocked ends the cluster's resolution. Callers hold c.mu.
func (c *Cluster) stopDNSLocked() {
	if c.dns == nil {
		return
	}
	c.dns.cancel()
	if c.dns.timer != nil {
		c.dns.timer.Stop()
	}
	c.dns = nil
}

// resolveEndpoints expands every endpoint named by a host name into one
// endpoint per address of the lookup family, updating last with each
// successful answer.
func resolveEndpoints(ctx context.Context, lookup LookupFunc, cfg *Config, last map[string][]netip.Addr) []EndpointConfig {
	out := make([]EndpointConfig, 0, len(cfg.Endpoints))
	for _, ep := range cfg.Endpoints {
		host, portStr, err := net.SplitHostPort(ep.Address)
		port, perr := strconv.ParseUint(portStr, 10, 16)
		if err != nil || perr != nil {
			out = append(out, ep)
			continue
		}
		if _, err := netip.ParseAddr(host); err == nil {
			out = append(out, ep)
			continue
		}
		addrs, err := lookup(ctx, host)
		if err == nil {
			if addrs = family(addrs, cfg.DNSLookupFamily); len(addrs) > 0 {
				last[host] = addrs
			}
		}
		addrs, ok := last[host]
		if !ok {
			out = append(out, ep) // no answer yet: resolved at connection time
			continue
		}
		for _, a := range addrs {
			r := ep
			r.Address = netip.AddrPortFrom(a, uint16(port)).String()
			out = append(out, r)
		}
	}
	return out
}

// family keeps the addresses a lookup family takes, sorted.
func family(addrs []netip.Addr, f DNSLookupFamily) []netip.Addr {
	var v4, v6 []netip.Addr
	for _, a := range addrs {
		if a = a.Unmap(); a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	var out []netip.Addr
	switch {
	case f == V4Only, f == V4Preferred && len(v4) > 0, f == Auto && len(v6) == 0:
		out = v4
	case f == V6Only, f == Auto, f == V4Preferred:
		out = v6
	default: // All
		out = append(v4, v6...)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}
