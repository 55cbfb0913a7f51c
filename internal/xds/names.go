package xds

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/halyard-mesh/halyard/internal/registry"
)

// Names of the fixed resources, as Istio spells them.
const (
	VirtualOutboundListener = "virtualOutbound"
	PassthroughCluster      = "PassthroughCluster"
	BlackHoleCluster        = "BlackHoleCluster"
	ExplicitProxyFilter     = "halyard.listener.explicit_proxy"
	// MeshGateway is the reserved gateway name that selects sidecars.
	MeshGateway = "mesh"
	// DefaultRootNamespace is Istio's default mesh config root namespace,
	// whose DestinationRules apply to every proxy.
	DefaultRootNamespace = "istio-system"
	// TransparentOutboundAddress is the outbound listener's address when
	// the pod has no explicit OutboundAddress.
	TransparentOutboundAddress = "0.0.0.0:15001"
)

// OutboundClusterName is Istio's outbound cluster name:
// outbound|9080|v1|reviews.default.svc.cluster.local (subset may be "").
func OutboundClusterName(port uint32, subset, hostname string) string {
	return fmt.Sprintf("outbound|%d|%s|%s", port, subset, hostname)
}

// InboundClusterName is the cluster of the proxy's own application port.
func InboundClusterName(containerPort uint32) string {
	return fmt.Sprintf("inbound|%d||", containerPort)
}

// InboundListenerName names the inbound listener (and its inline route
// configuration) of one container port.
func InboundListenerName(containerPort uint32) string {
	return fmt.Sprintf("inbound|%d", containerPort)
}

// OutboundListenerName names the outbound HTTP listener of a service port.
func OutboundListenerName(port uint32) string {
	return fmt.Sprintf("0.0.0.0_%d", port)
}

// RouteConfigName names the outbound route configuration of a service port.
func RouteConfigName(port uint32) string { return strconv.FormatUint(uint64(port), 10) }

// ResolveHost turns a host written in a VirtualService or DestinationRule
// into a fully qualified name, as Istio does: a name without any dot is a
// Kubernetes short name in the object's namespace; "*", IP addresses and
// names with a dot (even "reviews.default") are left as written.
func ResolveHost(host, namespace, domainSuffix string) string {
	if host == "" || host == "*" || strings.Contains(host, ".") || net.ParseIP(host) != nil {
		return host
	}
	if domainSuffix == "" {
		domainSuffix = registry.DefaultDomainSuffix
	}
	return host + "." + namespace + ".svc." + domainSuffix
}

// isWildcard reports whether a host starts with "*" ("*", "*.example.com").
func isWildcard(host string) bool { return strings.HasPrefix(host, "*") }

// HostMatches reports whether two hosts, either of which may be a wildcard,
// can name the same host: "*.example.com" matches "a.example.com" and
// "*.b.example.com" but not "example.com"; "*" matches everything.
func HostMatches(a, b string) bool {
	switch {
	case isWildcard(a) && isWildcard(b):
		return strings.HasSuffix(a[1:], b[1:]) || strings.HasSuffix(b[1:], a[1:])
	case isWildcard(a):
		return strings.HasSuffix(b, a[1:])
	case isWildcard(b):
		return strings.HasSuffix(a, b[1:])
	}
	return a == b
}

// hostSpecificity ranks how specifically a (resolved) host names hostname:
// -1 for no match, a large value for an exact match, and the length of the
// wildcard's suffix otherwise, so "*.b.example.com" beats "*.example.com",
// which beats "*".
func hostSpecificity(pattern, hostname string) int {
	if pattern == hostname {
		return 1 << 20
	}
	if !isWildcard(pattern) || !HostMatches(pattern, hostname) {
		return -1
	}
	return len(pattern) - 1
}

// Domains lists every name a client in proxyNamespace may use for a service
// port, for the virtual host's domains: for a Kubernetes service the FQDN,
// name.namespace.svc, name.namespace and, in the proxy's own namespace, the
// short name; for a ServiceEntry host the host itself. No ":<port>"
// variants: the outbound route configurations set
// ignore_port_in_host_matching (each is for one port), which keeps every proxy's RDS a sixth
// smaller than Istio's.
func Domains(svc *registry.Service, port uint32, proxyNamespace, domainSuffix string) []string {
	names := []string{svc.Hostname}
	if domainSuffix == "" {
		domainSuffix = registry.DefaultDomainSuffix
	}
	if svc.Kubernetes && svc.Hostname == ResolveHost(svc.Name, svc.Namespace, domainSuffix) {
		names = append(names, svc.Name+"."+svc.Namespace+".svc", svc.Name+"."+svc.Namespace)
		if svc.Namespace == proxyNamespace {
			names = append(names, svc.Name)
		}
	}
	return names
}

// splitHostPort parses "host:port"; the port must be a valid number.
func splitHostPort(addr string) (string, uint32, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: bad port: %w", addr, err)
	}
	return host, uint32(n), nil
}
