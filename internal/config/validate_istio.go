package config

import (
	"fmt"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

// validateDestinationRule applies Istio's validation of a DestinationRule.
func validateDestinationRule(c *docCtx, dr *networking.DestinationRule) {
	switch err := checkHost(dr.Host); {
	case dr.Host == "":
		c.errorf("spec.host", "missing required field")
	case err != nil:
		c.errorf("spec.host", "%v", err)
	}
	checkExportTo(c, "spec.exportTo", dr.ExportTo)
	validateTrafficPolicy(c, "spec.trafficPolicy", dr.TrafficPolicy)
	dups := firstDuplicate(dr.Subsets, (*networking.Subset).GetName)
	for i, s := range dr.Subsets {
		p := fmt.Sprintf("spec.subsets[%d]", i)
		switch {
		case s.Name == "":
			c.errorf(p+".name", "missing required field")
		case dups[i] >= 0:
			c.errorf(p+".name", "duplicate subset name %q (also spec.subsets[%d])", s.Name, dups[i])
		default:
			checkDNSLabel(c, p+".name", "subset name", s.Name)
		}
		checkLabels(c, p+".labels", s.Labels)
		validateTrafficPolicy(c, p+".trafficPolicy", s.TrafficPolicy)
	}
}

func validateTrafficPolicy(c *docCtx, p string, tp *networking.TrafficPolicy) {
	if tp == nil {
		return
	}
	if tp.LoadBalancer == nil && tp.ConnectionPool == nil && tp.OutlierDetection == nil && tp.Tls == nil &&
		tp.PortLevelSettings == nil && tp.Tunnel == nil && tp.ProxyProtocol == nil {
		c.errorf(p, "a traffic policy must have at least one field")
	}
	if tp.Tunnel != nil && tp.ProxyProtocol != nil {
		c.errorf(p, "tunnel and proxyProtocol must not be set together")
	}
	validatePolicyParts(c, p, tp)
}

// validateServiceEntry applies Istio's validation of a ServiceEntry.
func validateServiceEntry(c *docCtx, se *networking.ServiceEntry) {
	if len(se.Hosts) == 0 {
		c.errorf("spec.hosts", "at least one host is required")
	}
	for i, h := range se.Hosts {
		p := fmt.Sprintf("spec.hosts[%d]", i)
		if h == "*" {
			c.errorf(p, "invalid host *")
		} else if err := checkHost(h); err != nil {
			c.errorf(p, "%v", err)
		}
	}
	portNames := validateSEPorts(c, se)
	checkExportTo(c, "spec.exportTo", se.ExportTo)
	if se.WorkloadSelector != nil && len(se.Endpoints) > 0 {
		c.errorf("spec.endpoints", "only one of workloadSelector or endpoints may be set")
	}
	switch se.Resolution {
	case networking.ServiceEntry_NONE:
		if len(se.Endpoints) > 0 {
			c.errorf("spec.endpoints", "no endpoints may be given with resolution NONE")
		}
	case networking.ServiceEntry_STATIC:
		validateStaticEndpoints(c, se, portNames)
	default:
		validateDNSEndpoints(c, se, portNames)
	}
	if se.Resolution != networking.ServiceEntry_NONE && len(se.Hosts) > 1 {
		for i, port := range se.Ports {
			if !isHTTPOrTLS(port.Protocol) {
				c.errorf(fmt.Sprintf("spec.ports[%d].protocol", i),
					"several hosts need HTTP or TLS ports to be told apart (or resolution NONE)")
				break
			}
		}
	}
}

// validateSEPorts checks the ports and returns their names.
func validateSEPorts(c *docCtx, se *networking.ServiceEntry) map[string]bool {
	names := map[string]bool{}
	byName := firstDuplicate(se.Ports, (*networking.ServicePort).GetName)
	byNumber := firstDuplicate(se.Ports, func(p *networking.ServicePort) string { return fmt.Sprint(p.GetNumber()) })
	for i, port := range se.Ports {
		p := fmt.Sprintf("spec.ports[%d]", i)
		names[port.Name] = true
		switch {
		case port.Name == "":
			c.errorf(p+".name", "missing required field")
		case byName[i] >= 0:
			c.errorf(p+".name", "duplicate port name %q (also spec.ports[%d])", port.Name, byName[i])
		default:
			checkDNSLabel(c, p+".name", "port name", port.Name)
		}
		if checkPortNumber(c, p+".number", int64(port.Number)) && byNumber[i] >= 0 {
			c.errorf(p+".number", "duplicate port %d (also spec.ports[%d])", port.Number, byNumber[i])
		}
		if port.TargetPort != 0 {
			checkPortNumber(c, p+".targetPort", int64(port.TargetPort))
		}
		if port.Protocol != "" && !knownProtocol(port.Protocol) {
			c.errorf(p+".protocol", "unsupported protocol %q: want one of %s", port.Protocol, strings.Join(istioProtocols, ", "))
		}
	}
	return names
}

func validateStaticEndpoints(c *docCtx, se *networking.ServiceEntry, portNames map[string]bool) {
	if len(se.Endpoints) == 0 && se.WorkloadSelector == nil {
		c.warnf("spec.resolution", "resolution STATIC without endpoints: the service has no endpoints")
	}
	for i, ep := range se.Endpoints {
		p := fmt.Sprintf("spec.endpoints[%d]", i)
		switch {
		case ep.Address == "":
			c.errorf(p+".address", "missing required field")
		case strings.HasPrefix(ep.Address, "unix://"):
			c.warnf(p+".address", "unix domain socket endpoints are not yet supported; ignored")
		case !isIP(ep.Address):
			c.errorf(p+".address", "%q is not an IP address: resolution STATIC needs IP addresses", ep.Address)
		}
		validateEndpointPorts(c, p, ep, portNames)
	}
}

func validateDNSEndpoints(c *docCtx, se *networking.ServiceEntry, portNames map[string]bool) {
	if len(se.Endpoints) == 0 {
		for i, h := range se.Hosts {
			if strings.HasPrefix(h, "*") {
				c.errorf(fmt.Sprintf("spec.hosts[%d]", i), "hosts must be FQDNs when no endpoints are given with resolution %s", se.Resolution)
			}
		}
	}
	if se.Resolution == networking.ServiceEntry_DNS_ROUND_ROBIN && len(se.Endpoints) > 1 {
		c.errorf("spec.endpoints", "resolution DNS_ROUND_ROBIN takes at most one endpoint")
	}
	for i, ep := range se.Endpoints {
		p := fmt.Sprintf("spec.endpoints[%d]", i)
		if err := checkHost(ep.Address); err != nil && !isIP(ep.Address) {
			c.errorf(p+".address", "%q is neither an IP address nor a host name", ep.Address)
		}
		validateEndpointPorts(c, p, ep, portNames)
	}
}

func validateEndpointPorts(c *docCtx, p string, ep *networking.WorkloadEntry, portNames map[string]bool) {
	for _, name := range sortedKeys(ep.Ports) {
		pp := p + ".ports[" + name + "]"
		if !portNames[name] {
			c.errorf(pp, "port %q is not one of the ServiceEntry's ports", name)
		}
		checkPortNumber(c, pp, int64(ep.Ports[name]))
	}
	checkLabels(c, p+".labels", ep.Labels)
}

// validateWorkloadEntry checks what Halyard acts on: an IP address, port
// numbers and labels.
func validateWorkloadEntry(c *docCtx, we *networking.WorkloadEntry) {
	switch {
	case we.Address == "":
		c.errorf("spec.address", "missing required field")
	case !isIP(we.Address):
		c.errorf("spec.address", "%q is not an IP address (host names and unix sockets are not supported)", we.Address)
	}
	for _, name := range sortedKeys(we.Ports) {
		checkPortNumber(c, "spec.ports["+name+"]", int64(we.Ports[name]))
	}
	checkLabels(c, "spec.labels", we.Labels)
}
