package xds

import (
	"net/netip"
	"strconv"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacpb "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	security "istio.io/api/security/v1beta1"

	"github.com/halyard-mesh/halyard/internal/config"
)

// authnFilter is the metadata namespace where request authentication
// publishes the request.auth.* attributes (Istio's istio_authn).
const authnFilter = "istio_authn"

// ruleTranslator turns one AuthorizationPolicy rule into an RBAC policy,
// as Istio's pilot/pkg/security/authz/model does: from (or of sources,
// each an and of its fields), to (or of operations) and when (one
// condition each), every field an or of its values and a not of the or of
// its notValues.
type ruleTranslator struct {
	g *generator
	// tcp: for a network filter; deny: the rule denies (DENY, AUDIT), so
	// HTTP-only conditions are dropped on TCP instead of leaving the rule
	// out.
	tcp, deny bool
}

// policy translates a rule; false when the rule is left out (an ALLOW
// rule with HTTP-only conditions on a TCP port).
func (t ruleTranslator) policy(r *security.Rule) (*rbacpb.Policy, bool) {
	var prins []*rbacpb.Principal
	var perms []*rbacpb.Permission
	if from := r.GetFrom(); len(from) > 0 {
		ors := make([]*rbacpb.Principal, 0, len(from))
		for _, f := range from {
			ids, ok := t.source(f.GetSource())
			if !ok {
				return nil, false
			}
			ors = append(ors, andIDs(ids))
		}
		prins = append(prins, orIDs(ors))
	}
	if to := r.GetTo(); len(to) > 0 {
		ors := make([]*rbacpb.Permission, 0, len(to))
		for _, op := range to {
			rules, ok := t.operation(op.GetOperation())
			if !ok {
				return nil, false
			}
			ors = append(ors, andRules(rules))
		}
		perms = append(perms, orRules(ors))
	}
	for _, c := range r.GetWhen() {
		if !t.condition(c, &prins, &perms) {
			return nil, false
		}
	}
	return &rbacpb.Policy{Permissions: []*rbacpb.Permission{andRules(perms)}, Principals: []*rbacpb.Principal{andIDs(prins)}}, true
}

// keep reports whether an HTTP-only field may be translated (true), must
// be dropped (false, ok), or makes the rule be left out (false, !ok).
func (t ruleTranslator) keep(httpOnly bool, values, notValues []string) (use, ok bool) {
	if !httpOnly || !t.tcp || len(values)+len(notValues) == 0 {
		return true, true
	}
	return false, t.deny
}

func (t ruleTranslator) principals(out *[]*rbacpb.Principal, httpOnly bool, values, notValues []string, conv func(string) *rbacpb.Principal) bool {
	use, ok := t.keep(httpOnly, values, notValues)
	if !use {
		return ok
	}
	if len(values) > 0 {
		*out = append(*out, orIDs(mapIDs(values, conv)))
	}
	if len(notValues) > 0 {
		*out = append(*out, &rbacpb.Principal{Identifier: &rbacpb.Principal_NotId{NotId: orIDs(mapIDs(notValues, conv))}})
	}
	return true
}

func (t ruleTranslator) permissions(out *[]*rbacpb.Permission, httpOnly bool, values, notValues []string, conv func(string) *rbacpb.Permission) bool {
	use, ok := t.keep(httpOnly, values, notValues)
	if !use {
		return ok
	}
	if len(values) > 0 {
		*out = append(*out, orRules(mapRules(values, conv)))
	}
	if len(notValues) > 0 {
		*out = append(*out, &rbacpb.Permission{Rule: &rbacpb.Permission_NotRule{NotRule: orRules(mapRules(notValues, conv))}})
	}
	return true
}

func (t ruleTranslator) source(s *security.Source) ([]*rbacpb.Principal, bool) {
	var ids []*rbacpb.Principal
	ok := t.principals(&ids, false, s.GetPrincipals(), s.GetNotPrincipals(), principalID) &&
		t.principals(&ids, true, s.GetRequestPrincipals(), s.GetNotRequestPrincipals(), requestPrincipalID) &&
		t.principals(&ids, false, s.GetNamespaces(), s.GetNotNamespaces(), namespaceID) &&
		t.principals(&ids, false, s.GetIpBlocks(), s.GetNotIpBlocks(), directIPID) &&
		t.principals(&ids, false, s.GetRemoteIpBlocks(), s.GetNotRemoteIpBlocks(), remoteIPID)
	return ids, ok
}

func (t ruleTranslator) operation(o *security.Operation) ([]*rbacpb.Permission, bool) {
	var rules []*rbacpb.Permission
	ok := t.permissions(&rules, true, o.GetHosts(), o.GetNotHosts(), hostRule) &&
		t.permissions(&rules, false, o.GetPorts(), o.GetNotPorts(), t.portRule) &&
		t.permissions(&rules, true, o.GetMethods(), o.GetNotMethods(), methodRule) &&
		t.permissions(&rules, true, o.GetPaths(), o.GetNotPaths(), pathRule)
	return rules, ok
}

// condition translates one when condition into a principal (attributes
// of the peer and the request) or a permission (of the destination).
func (t ruleTranslator) condition(c *security.Condition, prins *[]*rbacpb.Principal, perms *[]*rbacpb.Permission) bool {
	k, err := config.ParseAuthzKey(c.GetKey())
	if err != nil {
		return false // validated by config: cannot happen
	}
	vs, nvs := c.GetValues(), c.GetNotValues()
	switch k.Name {
	case "request.headers":
		return t.principals(prins, true, vs, nvs, func(v string) *rbacpb.Principal {
			return &rbacpb.Principal{Identifier: &rbacpb.Principal_Header{Header: authzHeader(k.Args[0], v, false)}}
		})
	case "source.ip":
		return t.principals(prins, false, vs, nvs, directIPID)
	case "remote.ip":
		return t.principals(prins, false, vs, nvs, remoteIPID)
	case "source.namespace":
		return t.principals(prins, false, vs, nvs, namespaceID)
	case "source.principal":
		return t.principals(prins, false, vs, nvs, principalID)
	case "request.auth.principal":
		return t.principals(prins, true, vs, nvs, requestPrincipalID)
	case "request.auth.audiences":
		return t.principals(prins, true, vs, nvs, func(v string) *rbacpb.Principal {
			return metadataID([]string{"request.auth.audiences"}, listValue(authzString(v, "")))
		})
	case "request.auth.presenter":
		return t.principals(prins, true, vs, nvs, func(v string) *rbacpb.Principal {
			return metadataID([]string{"request.auth.presenter"}, stringValue(authzString(v, "")))
		})
	case "request.auth.claims":
		path := append([]string{"request.auth.claims"}, k.Args...)
		return t.principals(prins, true, vs, nvs, func(v string) *rbacpb.Principal {
			return metadataID(path, listValue(authzString(v, "")))
		})
	case "destination.ip":
		return t.permissions(perms, false, vs, nvs, func(v string) *rbacpb.Permission {
			return &rbacpb.Permission{Rule: &rbacpb.Permission_DestinationIp{DestinationIp: cidrRange(v)}}
		})
	case "destination.port":
		return t.permissions(perms, false, vs, nvs, t.portRule)
	case "connection.sni":
		return t.permissions(perms, false, vs, nvs, func(v string) *rbacpb.Permission {
			return &rbacpb.Permission{Rule: &rbacpb.Permission_RequestedServerName{RequestedServerName: authzString(v, "")}}
		})
	}
	return false
}

// portRule is destination_port. In explicit mode the sidecar's inbound
// listener of a container port listens on a port of its own, which is
// what the proxy sees as the destination: the container port is mapped to
// it.
func (t ruleTranslator) portRule(v string) *rbacpb.Permission {
	n, _ := strconv.ParseUint(v, 10, 16)
	return &rbacpb.Permission{Rule: &rbacpb.Permission_DestinationPort{DestinationPort: t.g.inboundPort(uint32(n))}}
}

// inboundPort is the port the pod's sidecar accepts a container port's
// traffic on: the container port itself when captured (transparent
// mode), else its inbound listener's port.
func (g *generator) inboundPort(containerPort uint32) uint32 {
	if g.pod.IP != "" {
		return containerPort
	}
	for _, pp := range g.pod.Ports {
		if pp.ContainerPort != containerPort || pp.InboundAddress == "" {
			continue
		}
		if ap, err := netip.ParseAddrPort(pp.InboundAddress); err == nil {
			return uint32(ap.Port())
		}
	}
	return containerPort
}

func principalID(v string) *rbacpb.Principal { return authenticatedID(authzString(v, "spiffe://")) }

func namespaceID(v string) *rbacpb.Principal {
	return authenticatedID(regexMatcher(".*/ns/" + strings.ReplaceAll(v, "*", ".*") + "/.*"))
}

func requestPrincipalID(v string) *rbacpb.Principal {
	return metadataID([]string{"request.auth.principal"}, stringValue(authzString(v, "")))
}

func directIPID(v string) *rbacpb.Principal {
	return &rbacpb.Principal{Identifier: &rbacpb.Principal_DirectRemoteIp{DirectRemoteIp: cidrRange(v)}}
}

func remoteIPID(v string) *rbacpb.Principal {
	return &rbacpb.Principal{Identifier: &rbacpb.Principal_RemoteIp{RemoteIp: cidrRange(v)}}
}

func hostRule(v string) *rbacpb.Permission {
	return &rbacpb.Permission{Rule: &rbacpb.Permission_Header{Header: authzHeader(":authority", v, true)}}
}

func methodRule(v string) *rbacpb.Permission {
	return &rbacpb.Permission{Rule: &rbacpb.Permission_Header{Header: authzHeader(":method", v, false)}}
}

func pathRule(v string) *rbacpb.Permission {
	return &rbacpb.Permission{Rule: &rbacpb.Permission_UrlPath{UrlPath: &matcher.PathMatcher{
		Rule: &matcher.PathMatcher_Path{Path: authzString(v, "")}}}}
}

func authenticatedID(m *matcher.StringMatcher) *rbacpb.Principal {
	return &rbacpb.Principal{Identifier: &rbacpb.Principal_Authenticated_{Authenticated: &rbacpb.Principal_Authenticated{PrincipalName: m}}}
}

func metadataID(path []string, v *matcher.ValueMatcher) *rbacpb.Principal {
	m := &matcher.MetadataMatcher{Filter: authnFilter, Value: v}
	for _, k := range path {
		m.Path = append(m.Path, &matcher.MetadataMatcher_PathSegment{Segment: &matcher.MetadataMatcher_PathSegment_Key{Key: k}})
	}
	return &rbacpb.Principal{Identifier: &rbacpb.Principal_Metadata{Metadata: m}}
}

func stringValue(m *matcher.StringMatcher) *matcher.ValueMatcher {
	return &matcher.ValueMatcher{MatchPattern: &matcher.ValueMatcher_StringMatch{StringMatch: m}}
}

func listValue(m *matcher.StringMatcher) *matcher.ValueMatcher {
	return &matcher.ValueMatcher{MatchPattern: &matcher.ValueMatcher_ListMatch{ListMatch: &matcher.ListMatcher{
		MatchPattern: &matcher.ListMatcher_OneOf{OneOf: stringValue(m)}}}}
}

// authzString is Istio's StringMatcherWithPrefix: "*" is any non-empty
// value, "*x" a suffix, "x*" a prefix, else exact; prefix is prepended
// (spiffe:// for principals).
func authzString(v, prefix string) *matcher.StringMatcher {
	switch {
	case v == "*":
		return regexMatcher(".+")
	case strings.HasPrefix(v, "*"):
		if prefix == "" {
			return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Suffix{Suffix: v[1:]}}
		}
		return regexMatcher(prefix + ".*" + regexpQuote(v[1:]))
	case strings.HasSuffix(v, "*"):
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: prefix + strings.TrimSuffix(v, "*")}}
	}
	return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: prefix + v}}
}

func regexMatcher(re string) *matcher.StringMatcher {
	return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: re}}}
}

// authzHeader is Istio's HeaderMatcher (HostMatcher when ignoreCase):
// "*" is presence, "*x" a suffix, "x*" a prefix, else exact.
func authzHeader(name, v string, ignoreCase bool) *route.HeaderMatcher {
	if v == "*" {
		return &route.HeaderMatcher{Name: name, HeaderMatchSpecifier: &route.HeaderMatcher_PresentMatch{PresentMatch: true}}
	}
	m := authzString(v, "")
	m.IgnoreCase = ignoreCase
	return &route.HeaderMatcher{Name: name, HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{StringMatch: m}}
}

// cidrRange is an ipBlocks entry: an address (a /32 or /128) or a CIDR.
func cidrRange(v string) *core.CidrRange {
	if p, err := netip.ParsePrefix(v); err == nil {
		return &core.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))}
	}
	a, _ := netip.ParseAddr(v)
	return &core.CidrRange{AddressPrefix: a.String(), PrefixLen: wrapperspb.UInt32(uint32(a.BitLen()))}
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func andIDs(ids []*rbacpb.Principal) *rbacpb.Principal {
	if len(ids) == 0 {
		return &rbacpb.Principal{Identifier: &rbacpb.Principal_Any{Any: true}}
	}
	return &rbacpb.Principal{Identifier: &rbacpb.Principal_AndIds{AndIds: &rbacpb.Principal_Set{Ids: ids}}}
}

func orIDs(ids []*rbacpb.Principal) *rbacpb.Principal {
	return &rbacpb.Principal{Identifier: &rbacpb.Principal_OrIds{OrIds: &rbacpb.Principal_Set{Ids: ids}}}
}

func andRules(rules []*rbacpb.Permission) *rbacpb.Permission {
	if len(rules) == 0 {
		return &rbacpb.Permission{Rule: &rbacpb.Permission_Any{Any: true}}
	}
	return &rbacpb.Permission{Rule: &rbacpb.Permission_AndRules{AndRules: &rbacpb.Permission_Set{Rules: rules}}}
}

func orRules(rules []*rbacpb.Permission) *rbacpb.Permission {
	return &rbacpb.Permission{Rule: &rbacpb.Permission_OrRules{OrRules: &rbacpb.Permission_Set{Rules: rules}}}
}

func mapIDs(vs []string, f func(string) *rbacpb.Principal) []*rbacpb.Principal {
	out := make([]*rbacpb.Principal, len(vs))
	for i, v := range vs {
		out[i] = f(v)
	}
	return out
}

func mapRules(vs []string, f func(string) *rbacpb.Permission) []*rbacpb.Permission {
	out := make([]*rbacpb.Permission, len(vs))
	for i, v := range vs {
		out[i] = f(v)
	}
	return out
}
