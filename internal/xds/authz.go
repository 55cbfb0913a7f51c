package xds

import (
	"fmt"
	"slices"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacpb "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacnet "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	security "istio.io/api/security/v1beta1"

	"github.com/halyard-mesh/halyard/internal/config"
)

// AuthorizationPolicy in Istio's shape (pilot/pkg/security/authz): the
// policies that apply to the pod (the root namespace's without selector,
// its namespace's without selector, and those whose selector matches its
// labels, in either) become one RBAC filter per action, in Istio's order:
// AUDIT (action LOG), DENY, ALLOW. Each rule is one RBAC policy named
// ns[<ns>]-policy[<name>]-rule[<i>]: its permissions are the to/when
// conditions on the request, its principals the from/when conditions on
// the peer (authzrules.go). A policy with the annotation
// istio.io/dry-run: "true" goes to shadow_rules instead. CUSTOM policies
// and policies with targetRef(s) (gateways, waypoints) are not applied.

// Names of the authorization filters.
const (
	RBACHTTPFilter    = "envoy.filters.http.rbac"
	RBACNetworkFilter = "envoy.filters.network.rbac"
	// rbacTCPStatPrefix is Istio's stat_prefix of the network filter.
	rbacTCPStatPrefix = "tcp."
	dryRunAnnotation  = "istio.io/dry-run"
)

// authzActions are the actions that get a filter, in chain order.
var authzActions = []struct {
	action security.AuthorizationPolicy_Action
	rbac   rbacpb.RBAC_Action
}{
	{security.AuthorizationPolicy_AUDIT, rbacpb.RBAC_LOG},
	{security.AuthorizationPolicy_DENY, rbacpb.RBAC_DENY},
	{security.AuthorizationPolicy_ALLOW, rbacpb.RBAC_ALLOW},
}

// authzPolicies returns the policies that apply to the pod's sidecar,
// sorted by namespace and name.
func (g *generator) authzPolicies() []*config.AuthorizationPolicy {
	var out []*config.AuthorizationPolicy
	for i := range g.authzs {
		p := &g.authzs[i]
		if p.Spec.GetTargetRef() != nil || len(p.Spec.GetTargetRefs()) > 0 {
			continue
		}
		if p.Namespace != g.root && p.Namespace != g.pod.Namespace {
			continue
		}
		if sel := p.Spec.GetSelector().GetMatchLabels(); len(sel) > 0 && !labelsMatch(sel, g.pod.Labels) {
			continue
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *config.AuthorizationPolicy) int { return compareMeta(a.Meta, b.Meta) })
	return out
}

// authzRules builds the enforced and shadow RBAC of one action; both nil
// when no policy of that action applies.
func (g *generator) authzRules(pols []*config.AuthorizationPolicy, action security.AuthorizationPolicy_Action,
	rbacAction rbacpb.RBAC_Action, tcp bool) (rules, shadow *rbacpb.RBAC) {
	for _, p := range pols {
		if p.Spec.GetAction() != action {
			continue
		}
		dst := &rules
		if p.Annotations[dryRunAnnotation] == "true" {
			dst = &shadow
		}
		if *dst == nil {
			*dst = &rbacpb.RBAC{Action: rbacAction, Policies: map[string]*rbacpb.Policy{}}
		}
		t := ruleTranslator{g: g, tcp: tcp, deny: action != security.AuthorizationPolicy_ALLOW}
		for i, r := range p.Spec.GetRules() {
			if pol, ok := t.policy(r); ok {
				(*dst).Policies[fmt.Sprintf("ns[%s]-policy[%s]-rule[%d]", p.Namespace, p.Name, i)] = pol
			}
		}
	}
	return rules, shadow
}

// authzHTTPFilters are the authorization filters of an inbound HTTP port
// (the same on every port: ports are matched by destination_port).
func (g *generator) authzHTTPFilters(port uint32) []*hcm.HttpFilter {
	pols := g.authzPolicies()
	var out []*hcm.HttpFilter
	for _, a := range authzActions {
		rules, shadow := g.authzRules(pols, a.action, a.rbac, false)
		if rules == nil && shadow == nil {
			continue
		}
		cfg := &rbachttp.RBAC{Rules: rules, ShadowRules: shadow}
		if shadow != nil {
			cfg.ShadowRulesStatPrefix = "istio_dry_run_" + shadowPrefix(a.rbac)
		}
		out = append(out, &hcm.HttpFilter{Name: RBACHTTPFilter, ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: toAny(cfg)}})
	}
	return out
}

// authzNetworkFilters are the authorization filters of an inbound TCP
// port, with Istio's TCP rules: an ALLOW rule with HTTP-only conditions
// is left out (it matches no connection), a DENY rule loses them (it
// denies more).
func (g *generator) authzNetworkFilters(port uint32) []*listener.Filter {
	pols := g.authzPolicies()
	var out []*listener.Filter
	for _, a := range authzActions {
		rules, shadow := g.authzRules(pols, a.action, a.rbac, true)
		if rules == nil && shadow == nil {
			continue
		}
		cfg := &rbacnet.RBAC{Rules: rules, ShadowRules: shadow, StatPrefix: rbacTCPStatPrefix}
		if shadow != nil {
			cfg.ShadowRulesStatPrefix = "istio_dry_run_" + shadowPrefix(a.rbac)
		}
		out = append(out, &listener.Filter{Name: RBACNetworkFilter, ConfigType: &listener.Filter_TypedConfig{TypedConfig: toAny(cfg)}})
	}
	return out
}

func shadowPrefix(a rbacpb.RBAC_Action) string {
	switch a {
	case rbacpb.RBAC_ALLOW:
		return "allow_"
	case rbacpb.RBAC_DENY:
		return "deny_"
	}
	return "log_"
}
