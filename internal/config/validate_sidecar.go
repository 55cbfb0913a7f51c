package config

import (
	"fmt"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

// validateSidecar checks what Halyard acts on: the egress hosts, each
// "namespace/dnsName" with namespace "*", ".", "~" or a namespace name and
// dnsName "*", a wildcard or a host name.
func validateSidecar(c *docCtx, sc *networking.Sidecar) {
	for i, l := range sc.Egress {
		p := fmt.Sprintf("spec.egress[%d].hosts", i)
		if len(l.Hosts) == 0 {
			c.errorf(p, "at least one host is required")
		}
		for j, h := range l.Hosts {
			hp := fmt.Sprintf("%s[%d]", p, j)
			ns, host, ok := strings.Cut(h, "/")
			switch {
			case !ok || ns == "" || host == "":
				c.errorf(hp, "%q: want namespace/dnsName (for example ./* or istio-system/*)", h)
				continue
			case ns != "*" && ns != "." && ns != "~":
				if !checkDNSLabel(c, hp, "namespace", ns) {
					continue
				}
			}
			if host != "*" {
				if err := checkHost(host); err != nil {
					c.errorf(hp, "%v", err)
				}
			}
		}
	}
}
