package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// clusterDomain is the suffix of Kubernetes service names.
const clusterDomain = "svc.cluster.local"

var dnsLabelRE = regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`)

// checkHost validates a host as Istio does: a DNS name whose first label
// may be a wildcard ("*", "*.example.com", "*-foo.example.com").
func checkHost(h string) error {
	if h == "" {
		return fmt.Errorf("empty host")
	}
	if len(h) > 255 {
		return fmt.Errorf("host %q is longer than 255 characters", h)
	}
	labels := strings.Split(h, ".")
	first := strings.TrimPrefix(labels[0], "*")
	if labels[0] == "*" {
		first = "x"
	} else if strings.HasPrefix(labels[0], "*-") {
		first = "x" + first
	}
	for i, l := range labels {
		if i == 0 {
			l = first
		}
		if len(l) > 63 || !dnsLabelRE.MatchString(l) {
			return fmt.Errorf("invalid host %q: label %q is not a DNS label", h, labels[i])
		}
	}
	return nil
}

// isIP says whether s is an IPv4 or IPv6 address.
func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// checkPortNumber validates a port number.
func checkPortNumber(c *docCtx, field string, n int64) bool {
	if n < 1 || n > 65535 {
		c.errorf(field, "port number %d must be in the range 1..65535", n)
		return false
	}
	return true
}

// checkLabels validates label keys and values as Kubernetes does.
func checkLabels(c *docCtx, field string, labels map[string]string) {
	for _, k := range sortedKeys(labels) {
		p := field + "[" + k + "]"
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			c.errorf(p, "invalid label key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(labels[k]); len(errs) > 0 {
			c.errorf(p, "invalid label value %q: %s", labels[k], strings.Join(errs, "; "))
		}
	}
}

// checkDNSLabel validates a name that must be a DNS-1123 label.
func checkDNSLabel(c *docCtx, field, what, name string) bool {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		c.errorf(field, "invalid %s %q: %s", what, name, strings.Join(errs, "; "))
		return false
	}
	return true
}

// resolveHost turns a short name into the FQDN Istio gives it: a name
// without a dot is a service in the namespace of the object naming it.
func resolveHost(host, namespace string) string {
	if host == "*" || strings.Contains(host, ".") {
		return host
	}
	return host + "." + namespace + "." + clusterDomain
}

// hostCovers says whether pattern (possibly a wildcard) matches host.
func hostCovers(pattern, host string) bool {
	switch {
	case pattern == host, pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(host, pattern[1:])
	}
	return false
}

// hostsOverlap says whether two hosts can name the same service.
func hostsOverlap(a, b string) bool { return hostCovers(a, b) || hostCovers(b, a) }

// firstDuplicate returns, for each index, the index of the first earlier
// element with the same key, or -1.
func firstDuplicate[T any](items []T, key func(T) string) []int {
	first := map[string]int{}
	out := make([]int, len(items))
	for i, it := range items {
		k := key(it)
		out[i] = -1
		if j, dup := first[k]; dup {
			out[i] = j
			continue
		}
		first[k] = i
	}
	return out
}

// protocols Istio knows (case-insensitive), for ServiceEntry ports.
var istioProtocols = []string{"HTTP", "HTTPS", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-WEB", "TCP", "TLS", "UDP", "MONGO", "REDIS", "MYSQL"}

func knownProtocol(p string) bool { return slices.Contains(istioProtocols, strings.ToUpper(p)) }

// isHTTPOrTLS says whether an Istio protocol name carries HTTP or TLS, so
// hosts can be told apart on one port.
func isHTTPOrTLS(p string) bool {
	switch strings.ToUpper(p) {
	case "HTTP", "HTTPS", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-WEB", "TLS":
		return true
	}
	return false
}

// checkExportTo validates an exportTo list as Istio does: "*" (every
// namespace, alone), "." (the object's own), "~" (none, alone) or
// namespace names.
func checkExportTo(c *docCtx, field string, exportTo []string) {
	for i, ns := range exportTo {
		p := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case ns == "*" || ns == "~":
			if len(exportTo) > 1 {
				c.errorf(p, "%q cannot be combined with other namespaces", ns)
			}
		case ns == ".":
		default:
			checkDNSLabel(c, p, "namespace", ns)
		}
		if slices.Index(exportTo, ns) < i {
			c.errorf(p, "duplicate namespace %q", ns)
		}
	}
}
