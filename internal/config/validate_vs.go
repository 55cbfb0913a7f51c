package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
)

// validateVirtualService applies Istio's validation of a VirtualService
// (pkg/config/validation in Istio 1.2x) to what Halyard reads.
func validateVirtualService(c *docCtx, vs *networking.VirtualService) {
	if len(vs.Hosts) == 0 {
		c.errorf("spec.hosts", "at least one host is required (delegate VirtualServices are not supported)")
	}
	mesh := len(vs.Gateways) == 0 || slices.Contains(vs.Gateways, "mesh")
	validateVSHosts(c, vs.Hosts, mesh)
	checkExportTo(c, "spec.exportTo", vs.ExportTo)
	validateGatewayNamesAt(c, "spec.gateways", vs.Gateways)
	if !mesh {
		c.warnf("spec.gateways", `"mesh" is not listed: this VirtualService applies only to gateways, which Halyard does not run yet`)
	}
	if len(vs.Http) == 0 && len(vs.Tcp) == 0 && len(vs.Tls) == 0 {
		c.errorf("spec", "http, tcp or tls must be provided")
	}
	for i, r := range vs.Http {
		validateHTTPRoute(c, fmt.Sprintf("spec.http[%d]", i), r)
	}
	for i, r := range vs.Tcp {
		validateTCPRoute(c, fmt.Sprintf("spec.tcp[%d]", i), r)
	}
	for i, r := range vs.Tls {
		validateTLSRoute(c, fmt.Sprintf("spec.tls[%d]", i), r, vs.Hosts)
	}
	warnDuplicateNames(c, "spec.http", vs.Http, (*networking.HTTPRoute).GetName)
	warnUnreachable(c, vs.Http)
}

func validateVSHosts(c *docCtx, hosts []string, mesh bool) {
	valid := true
	for i, h := range hosts {
		p := fmt.Sprintf("spec.hosts[%d]", i)
		if err := checkHost(h); err != nil && !isIP(h) {
			c.errorf(p, "%v", err)
			valid = false
		} else if h == "*" && mesh {
			c.errorf(p, "wildcard host * is not allowed for VirtualServices bound to the mesh")
			valid = false
		}
	}
	if !valid {
		return
	}
	for i := range hosts {
		for j := i + 1; j < len(hosts); j++ {
			if hostsOverlap(hosts[i], hosts[j]) {
				c.errorf(fmt.Sprintf("spec.hosts[%d]", j), "duplicate host %s (overlaps spec.hosts[%d] %s)", hosts[j], i, hosts[i])
			}
		}
	}
}

// validateGatewayNamesAt checks "name", "namespace/name" and "mesh".
func validateGatewayNamesAt(c *docCtx, field string, gateways []string) {
	for i, g := range gateways {
		p := fmt.Sprintf("%s[%d]", field, i)
		ns, name, qualified := strings.Cut(g, "/")
		if !qualified {
			if err := checkHost(g); err != nil {
				c.errorf(p, "invalid gateway name %q", g)
			}
			continue
		}
		if !dnsLabelRE.MatchString(ns) || !dnsLabelRE.MatchString(name) {
			c.errorf(p, "invalid gateway %q: want namespace/name", g)
		}
	}
}

func validateHTTPRoute(c *docCtx, p string, r *networking.HTTPRoute) {
	validateHTTPConflicts(c, p, r)
	for j, m := range r.Match {
		validateMatch(c, fmt.Sprintf("%s.match[%d]", p, j), m)
	}
	warnDuplicateNames(c, p+".match", r.Match, (*networking.HTTPMatchRequest).GetName)
	weights := make([]int32, len(r.Route))
	for k, d := range r.Route {
		dp := fmt.Sprintf("%s.route[%d]", p, k)
		if d.Destination == nil {
			c.errorf(dp+".destination", "missing required field")
		} else {
			validateDestination(c, dp+".destination", d.Destination)
		}
		weights[k] = d.Weight
	}
	checkWeights(c, p+".route", weights)
	validateHTTPFeatures(c, p, r)
}

func validateDestination(c *docCtx, p string, d *networking.Destination) {
	switch err := checkHost(d.Host); {
	case d.Host == "":
		c.errorf(p+".host", "missing required field")
	case d.Host == "*":
		c.errorf(p+".host", "invalid destination host *")
	case err != nil:
		c.errorf(p+".host", "%v", err)
	}
	if d.Subset != "" {
		checkDNSLabel(c, p+".subset", "subset name", d.Subset)
	}
	if d.Port != nil {
		checkPortNumber(c, p+".port.number", int64(d.Port.Number))
	}
}

var headerNameRE = regexp.MustCompile(`^[-_A-Za-z0-9]+$`)

func validateMatch(c *docCtx, p string, m *networking.HTTPMatchRequest) {
	if m.Uri != nil && m.Uri.MatchType == nil {
		c.warnf(p+".uri", "empty match: matches every path, as in Istio")
	}
	checkStringMatch(c, p+".uri", m.Uri)
	checkStringMatch(c, p+".method", m.Method)
	checkStringMatch(c, p+".authority", m.Authority)
	for _, field := range []string{"headers", "withoutHeaders"} {
		hm := m.Headers
		if field == "withoutHeaders" {
			hm = m.WithoutHeaders
		}
		for _, name := range sortedKeys(hm) {
			hp := p + "." + field + "[" + name + "]"
			switch {
			case strings.HasPrefix(name, "@request.auth.claims"):
				c.errorf(hp, "JWT claim based routing is only supported on gateways")
			case !headerNameRE.MatchString(name):
				c.errorf(hp, "invalid header name %q", name)
			}
			checkStringMatch(c, hp, hm[name])
		}
	}
	for _, name := range sortedKeys(m.QueryParams) {
		checkStringMatch(c, p+".queryParams["+name+"]", m.QueryParams[name])
	}
}

// checkStringMatch validates a regex as Istio does: not empty, at most 1024
// characters (Envoy's program size limit), valid RE2 (Go's regexp syntax).
func checkStringMatch(c *docCtx, p string, sm *networking.StringMatch) {
	re, isRegex := sm.GetMatchType().(*networking.StringMatch_Regex)
	if !isRegex {
		return
	}
	switch _, err := regexp.Compile(re.Regex); {
	case re.Regex == "":
		c.errorf(p+".regex", "regex must not be empty")
	case len(re.Regex) > 1024:
		c.errorf(p+".regex", "regex is longer than 1024 characters")
	case err != nil:
		c.errorf(p+".regex", "invalid RE2 regex: %v", err)
	}
}

// warnDuplicateNames warns about names used twice in one list: Istio
// accepts them, but routes and their statistics can no longer be told apart.
func warnDuplicateNames[T any](c *docCtx, p string, items []T, name func(T) string) {
	dups := firstDuplicate(items, name)
	for i, j := range dups {
		if j >= 0 && name(items[i]) != "" {
			c.warnf(fmt.Sprintf("%s[%d].name", p, i), "duplicate name %q (also %s[%d])", name(items[i]), p, j)
		}
	}
}

// warnUnreachable warns, as Istio does, about rules after a catch-all rule
// and about matches identical (but for their name) to an earlier one.
func warnUnreachable(c *docCtx, routes []*networking.HTTPRoute) {
	catchAll := -1
	seen := map[string]string{}
	for i, r := range routes {
		p := fmt.Sprintf("spec.http[%d]", i)
		if catchAll >= 0 {
			c.warnf(p, "rule is never used: spec.http[%d] before it has no match and takes every request", catchAll)
			continue
		}
		if len(r.Match) == 0 {
			catchAll = i
		}
		for j, m := range r.Match {
			mp := fmt.Sprintf("%s.match[%d]", p, j)
			key := matchKey(m)
			if first, dup := seen[key]; dup {
				c.warnf(mp, "match is never used: %s has the same conditions", first)
				continue
			}
			seen[key] = mp
		}
	}
}

// matchKey identifies the conditions of a match, without its name.
func matchKey(m *networking.HTTPMatchRequest) string {
	cp := proto.Clone(m).(*networking.HTTPMatchRequest)
	cp.Name = ""
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(cp)
	return string(b)
}
