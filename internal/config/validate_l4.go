package config

import (
	"fmt"
	"net/netip"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

// validateTCPRoute applies Istio's validateTCPRoute.
func validateTCPRoute(c *docCtx, p string, r *networking.TCPRoute) {
	for j, m := range r.Match {
		mp := fmt.Sprintf("%s.match[%d]", p, j)
		if m == nil {
			c.errorf(mp, "a match may not be null")
			continue
		}
		validateL4Match(c, mp, m.DestinationSubnets, m.Port, m.SourceLabels, m.Gateways)
	}
	validateRouteDestinations(c, p+".route", r.Route)
}

// validateTLSRoute applies Istio's validateTLSRoute: at least one match,
// each with SNI hosts that the VirtualService's hosts cover.
func validateTLSRoute(c *docCtx, p string, r *networking.TLSRoute, hosts []string) {
	if len(r.Match) == 0 {
		c.errorf(p+".match", "a TLS route needs at least one match")
	}
	for j, m := range r.Match {
		mp := fmt.Sprintf("%s.match[%d]", p, j)
		if m == nil {
			c.errorf(mp, "a match may not be null")
			continue
		}
		if len(m.SniHosts) == 0 {
			c.errorf(mp+".sniHosts", "a TLS match needs at least one SNI host")
		}
		for k, sni := range m.SniHosts {
			checkSNIHost(c, fmt.Sprintf("%s.sniHosts[%d]", mp, k), sni, hosts, c.ns)
		}
		validateL4Match(c, mp, m.DestinationSubnets, m.Port, m.SourceLabels, m.Gateways)
	}
	validateRouteDestinations(c, p+".route", r.Route)
}

func validateL4Match(c *docCtx, p string, subnets []string, port uint32, labels map[string]string, gateways []string) {
	for i, s := range subnets {
		if !isIPOrPrefix(s) {
			c.errorf(fmt.Sprintf("%s.destinationSubnets[%d]", p, i), "%q is not an IP address or CIDR prefix", s)
		}
	}
	if port != 0 {
		checkPortNumber(c, p+".port", int64(port))
	}
	checkLabels(c, p+".sourceLabels", labels)
	validateGatewayNamesAt(c, p+".gateways", gateways)
}

func isIPOrPrefix(s string) bool {
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	return isIP(s)
}

// checkSNIHost: a DNS name (the first label may be a wildcard) that one of
// the VirtualService's hosts covers. Short hosts are also taken as resolved
// in the VirtualService's namespace. An IP address is only warned about.
func checkSNIHost(c *docCtx, field, sni string, hosts []string, ns string) {
	if err := checkHost(sni); err != nil {
		if isIP(sni) {
			c.warnf(field, "using an IP address (%q) goes against the SNI specification and most clients do not support it", sni)
			return
		}
		c.errorf(field, "%v", err)
		return
	}
	for _, h := range hosts {
		if sniWithin(sni, h) || sniWithin(sni, resolveHost(h, ns)) {
			return
		}
	}
	c.errorf(field, "SNI host %q is not covered by any of the VirtualService's hosts (%s)", sni, strings.Join(hosts, ", "))
}

// sniWithin says whether every name sni can stand for is one host names.
func sniWithin(sni, host string) bool {
	switch {
	case host == "*" || sni == host:
		return true
	case strings.HasPrefix(host, "*"):
		return strings.HasSuffix(strings.TrimPrefix(sni, "*"), host[1:])
	}
	return false
}

// validateRouteDestinations checks the destinations of a tcp or tls rule.
func validateRouteDestinations(c *docCtx, p string, dests []*networking.RouteDestination) {
	if len(dests) == 0 {
		c.errorf(p, "a route is required")
	}
	weights := make([]int32, len(dests))
	for k, d := range dests {
		dp := fmt.Sprintf("%s[%d]", p, k)
		if d.GetDestination() == nil {
			c.errorf(dp+".destination", "missing required field")
		} else {
			validateDestination(c, dp+".destination", d.Destination)
		}
		weights[k] = d.GetWeight()
	}
	checkWeights(c, p, weights)
}
