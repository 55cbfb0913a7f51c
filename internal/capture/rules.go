// Package capture programs the traffic capture of one pod network namespace
// the way Istio's init container does, with nftables over netlink (no
// binary needed): outbound TCP is redirected to the sidecar's outbound port
// (15001), inbound TCP to its inbound port (15006), and the sidecar's own
// traffic (its sockets' group id) is left alone. Istio's annotations narrow
// the capture per pod.
package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Istio's capture annotations.
const (
	AnnotationExcludeOutboundPorts    = "traffic.sidecar.istio.io/excludeOutboundPorts"
	AnnotationExcludeInboundPorts     = "traffic.sidecar.istio.io/excludeInboundPorts"
	AnnotationExcludeOutboundIPRanges = "traffic.sidecar.istio.io/excludeOutboundIPRanges"
	AnnotationIncludeOutboundIPRanges = "traffic.sidecar.istio.io/includeOutboundIPRanges"
)

// Istio's well-known sidecar ports.
const (
	OutboundPort = 15001
	InboundPort  = 15006
	// ProxyGID is the group the sidecar runs as; its sockets are not
	// captured (Istio matches the uid 1337 instead).
	ProxyGID = 1337
)

// Rules is the capture of one pod.
type Rules struct {
	ProxyGID     uint32
	OutboundPort uint16
	InboundPort  uint16
	// ExcludeInboundPorts are never redirected to the sidecar: its own
	// admin and health ports and the pod's excludeInboundPorts.
	ExcludeInboundPorts  []uint16
	ExcludeOutboundPorts []uint16
	ExcludeOutboundCIDRs []netip.Prefix
	// IncludeOutboundCIDRs limits outbound capture to these ranges; nil
	// captures every destination (Istio's "*").
	IncludeOutboundCIDRs []netip.Prefix
}

// Defaults returns the capture of a pod whose sidecar listens on Istio's
// ports and runs as ProxyGID; exclude are its own ports (admin, health)
// that must stay reachable from outside the pod.
func Defaults(exclude ...uint16) Rules {
	return Rules{
		ProxyGID: ProxyGID, OutboundPort: OutboundPort, InboundPort: InboundPort,
		ExcludeInboundPorts: append([]uint16{OutboundPort, InboundPort}, exclude...),
	}
}

// WithAnnotations applies Istio's traffic.sidecar.istio.io annotations.
func (r Rules) WithAnnotations(ann map[string]string) (Rules, error) {
	var err error
	if v, ok := ann[AnnotationExcludeOutboundPorts]; ok {
		ports, perr := parsePorts(v)
		r.ExcludeOutboundPorts, err = append(slices.Clone(r.ExcludeOutboundPorts), ports...), perr
		if err != nil {
			return r, fmt.Errorf("capture: %s: %w", AnnotationExcludeOutboundPorts, err)
		}
	}
	if v, ok := ann[AnnotationExcludeInboundPorts]; ok {
		ports, perr := parsePorts(v)
		r.ExcludeInboundPorts, err = append(slices.Clone(r.ExcludeInboundPorts), ports...), perr
		if err != nil {
			return r, fmt.Errorf("capture: %s: %w", AnnotationExcludeInboundPorts, err)
		}
	}
	if v, ok := ann[AnnotationExcludeOutboundIPRanges]; ok {
		if r.ExcludeOutboundCIDRs, err = parseCIDRs(v); err != nil {
			return r, fmt.Errorf("capture: %s: %w", AnnotationExcludeOutboundIPRanges, err)
		}
	}
	if v, ok := ann[AnnotationIncludeOutboundIPRanges]; ok && strings.TrimSpace(v) != "*" {
		if r.IncludeOutboundCIDRs, err = parseCIDRs(v); err != nil {
			return r, fmt.Errorf("capture: %s: %w", AnnotationIncludeOutboundIPRanges, err)
		}
		if r.IncludeOutboundCIDRs == nil {
			r.IncludeOutboundCIDRs = []netip.Prefix{} // "": capture nothing
		}
	}
	return r, nil
}

// parsePorts reads a comma-separated port list ("8080, 9090").
func parsePorts(s string) ([]uint16, error) {
	var out []uint16
	for _, f := range splitList(s) {
		n, err := strconv.ParseUint(f, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%q is not a port", f)
		}
		out = append(out, uint16(n))
	}
	return out, nil
}

// parseCIDRs reads a comma-separated list of IPv4 ranges or addresses.
func parseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range splitList(s) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not an IP range", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if !p.Addr().Is4() {
			return nil, fmt.Errorf("%q: only IPv4 ranges are captured", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
