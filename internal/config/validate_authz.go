package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	security "istio.io/api/security/v1beta1"
)

// AuthzKey is a parsed AuthorizationPolicy condition key:
// "request.headers[x-user]" is {request.headers [x-user]},
// "request.auth.claims[groups][admin]" {request.auth.claims [groups admin]}.
type AuthzKey struct {
	Name string
	Args []string
}

// authzKeys are the condition keys Halyard supports, with the number of
// [args] each takes (-1: one or more).
var authzKeys = map[string]int{
	"request.headers": 1, "request.auth.claims": -1,
	"source.ip": 0, "remote.ip": 0, "source.namespace": 0, "source.principal": 0,
	"request.auth.principal": 0, "request.auth.audiences": 0, "request.auth.presenter": 0,
	"destination.ip": 0, "destination.port": 0, "connection.sni": 0,
}

// ParseAuthzKey parses and checks a condition key.
func ParseAuthzKey(key string) (AuthzKey, error) {
	name, rest, _ := strings.Cut(key, "[")
	k := AuthzKey{Name: name}
	if rest != "" || strings.HasSuffix(key, "[") {
		rest = "[" + rest
		for rest != "" {
			if rest[0] != '[' {
				return k, fmt.Errorf("invalid key %q: expected [", key)
			}
			end := strings.IndexByte(rest, ']')
			if end < 2 {
				return k, fmt.Errorf("invalid key %q: empty or unterminated []", key)
			}
			k.Args = append(k.Args, rest[1:end])
			rest = rest[end+1:]
		}
	}
	n, ok := authzKeys[name]
	switch {
	case !ok && strings.HasPrefix(name, "experimental."):
		return k, fmt.Errorf("unsupported key %q: experimental keys are not supported", key)
	case !ok:
		return k, fmt.Errorf("unknown key %q", key)
	case n == -1 && len(k.Args) == 0, n >= 0 && len(k.Args) != n:
		return k, fmt.Errorf("invalid key %q: %s takes %s", key, name, map[int]string{-1: "one or more [name]", 0: "no [name]", 1: "one [name]"}[n])
	}
	return k, nil
}

// validateAuthorizationPolicy applies Istio's checks of an
// AuthorizationPolicy (ValidateAuthorizationPolicy) and reports what
// Halyard does not apply.
func validateAuthorizationPolicy(c *docCtx, p *security.AuthorizationPolicy) {
	if p.GetSelector() != nil && (p.GetTargetRef() != nil || len(p.GetTargetRefs()) > 0) {
		c.errorf("spec", "only one of selector or targetRef(s) may be set")
	}
	if p.GetSelector() != nil {
		checkLabels(c, "spec.selector.matchLabels", p.GetSelector().GetMatchLabels())
	}
	switch a := p.GetAction(); {
	case a == security.AuthorizationPolicy_CUSTOM:
		if p.GetProvider() == nil {
			c.errorf("spec.provider", "a CUSTOM policy needs a provider")
		}
		c.warnf("spec.action", "CUSTOM (external authorization) is not supported: the policy is ignored")
	case p.GetProvider() != nil:
		c.errorf("spec.provider", "a provider is only allowed with action CUSTOM, not %s", a)
	}
	for i, r := range p.GetRules() {
		validateAuthzRule(c, fmt.Sprintf("spec.rules[%d]", i), r)
	}
}

// authzField is one list field of a source or an operation.
type authzField struct {
	name   string
	values []string
	check  func(string) error
}

func validateAuthzRule(c *docCtx, p string, r *security.Rule) {
	for i, f := range r.GetFrom() {
		fp := fmt.Sprintf("%s.from[%d].source", p, i)
		s := f.GetSource()
		if s == nil || len(s.GetPrincipals())+len(s.GetNotPrincipals())+len(s.GetRequestPrincipals())+len(s.GetNotRequestPrincipals())+
			len(s.GetNamespaces())+len(s.GetNotNamespaces())+len(s.GetIpBlocks())+len(s.GetNotIpBlocks())+
			len(s.GetRemoteIpBlocks())+len(s.GetNotRemoteIpBlocks()) == 0 {
			c.errorf(fp, "from.source must not be empty")
			continue
		}
		for _, f := range []authzField{{"principals", s.GetPrincipals(), nil}, {"notPrincipals", s.GetNotPrincipals(), nil},
			{"requestPrincipals", s.GetRequestPrincipals(), nil}, {"notRequestPrincipals", s.GetNotRequestPrincipals(), nil},
			{"namespaces", s.GetNamespaces(), nil}, {"notNamespaces", s.GetNotNamespaces(), nil},
			{"ipBlocks", s.GetIpBlocks(), checkCIDR}, {"notIpBlocks", s.GetNotIpBlocks(), checkCIDR},
			{"remoteIpBlocks", s.GetRemoteIpBlocks(), checkCIDR}, {"notRemoteIpBlocks", s.GetNotRemoteIpBlocks(), checkCIDR}} {
			checkAuthzValues(c, fp+"."+f.name, f.values, f.check)
		}
	}
	for i, t := range r.GetTo() {
		op := t.GetOperation()
		tp := fmt.Sprintf("%s.to[%d].operation", p, i)
		if op == nil || len(op.GetHosts())+len(op.GetNotHosts())+len(op.GetPorts())+len(op.GetNotPorts())+
			len(op.GetMethods())+len(op.GetNotMethods())+len(op.GetPaths())+len(op.GetNotPaths()) == 0 {
			c.errorf(tp, "to.operation must not be empty")
			continue
		}
		for _, f := range []authzField{{"hosts", op.GetHosts(), nil}, {"notHosts", op.GetNotHosts(), nil},
			{"ports", op.GetPorts(), checkPort}, {"notPorts", op.GetNotPorts(), checkPort},
			{"methods", op.GetMethods(), nil}, {"notMethods", op.GetNotMethods(), nil},
			{"paths", op.GetPaths(), nil}, {"notPaths", op.GetNotPaths(), nil}} {
			checkAuthzValues(c, tp+"."+f.name, f.values, f.check)
		}
		for _, f := range []authzField{{"paths", op.GetPaths(), nil}, {"notPaths", op.GetNotPaths(), nil}} {
			for j, v := range f.values {
				if strings.Contains(v, "{") {
					c.warnf(fmt.Sprintf("%s.%s[%d]", tp, f.name, j), "path templates ({*}, {**}) are not supported: %q is matched literally", v)
				}
			}
		}
	}
	for i, w := range r.GetWhen() {
		validateAuthzCondition(c, fmt.Sprintf("%s.when[%d]", p, i), w)
	}
}

func validateAuthzCondition(c *docCtx, p string, w *security.Condition) {
	k, err := ParseAuthzKey(w.GetKey())
	if err != nil {
		c.errorf(p+".key", "%v", err)
		return
	}
	if len(w.GetValues())+len(w.GetNotValues()) == 0 {
		c.errorf(p, "at least one of values or notValues must be set for key %q", w.GetKey())
	}
	var check func(string) error
	switch k.Name {
	case "source.ip", "remote.ip", "destination.ip":
		check = checkCIDR
	case "destination.port":
		check = checkPort
	}
	checkAuthzValues(c, p+".values", w.GetValues(), check)
	checkAuthzValues(c, p+".notValues", w.GetNotValues(), check)
}

// checkAuthzValues reports empty values and values check refuses.
func checkAuthzValues(c *docCtx, p string, vs []string, check func(string) error) {
	for i, v := range vs {
		vp := fmt.Sprintf("%s[%d]", p, i)
		switch {
		case v == "":
			c.errorf(vp, "empty value not allowed")
		case check != nil:
			if err := check(v); err != nil {
				c.errorf(vp, "%v", err)
			}
		}
	}
}

func checkCIDR(v string) error {
	if strings.Contains(v, "/") {
		if _, err := netip.ParsePrefix(v); err != nil {
			return fmt.Errorf("invalid CIDR %q", v)
		}
		return nil
	}
	if _, err := netip.ParseAddr(v); err != nil {
		return fmt.Errorf("invalid IP address %q", v)
	}
	return nil
}

func checkPort(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		return errors.New("invalid port " + strconv.Quote(v) + ": must be a number in 1..65535")
	}
	return nil
}
