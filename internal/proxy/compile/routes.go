package compile

import (
	"errors"
	"fmt"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
)

// Routes compiles an RDS resource set into route tables by name.
func Routes(res []*routev3.RouteConfiguration) (map[string]*router.Table, error) {
	out := make(map[string]*router.Table, len(res))
	for _, rc := range res {
		t, err := compileRouteConfig(rc)
		if err != nil {
			return nil, &Error{Kind: "route", Name: rc.GetName(), Err: err}
		}
		out[rc.GetName()] = t
	}
	return out, nil
}

func compileRouteConfig(rc *routev3.RouteConfiguration) (*router.Table, error) {
	vhs := make([]router.VirtualHostConfig, 0, len(rc.GetVirtualHosts()))
	for _, vh := range rc.GetVirtualHosts() {
		vc := router.VirtualHostConfig{Name: vh.GetName(), Domains: vh.GetDomains()}
		if vh.GetRequireTls() != routev3.VirtualHost_NONE {
			return nil, fmt.Errorf("virtual host %q: require_tls is not supported", vh.GetName())
		}
		for i, r := range vh.GetRoutes() {
			c, err := compileRoute(r)
			if err != nil {
				name := r.GetName()
				if name == "" {
					name = fmt.Sprint("#", i)
				}
				return nil, fmt.Errorf("virtual host %q: route %s: %w", vh.GetName(), name, err)
			}
			vc.Routes = append(vc.Routes, c)
		}
		vhs = append(vhs, vc)
	}
	return router.NewTable(rc.GetName(), vhs)
}

func compileRoute(r *routev3.Route) (router.RouteConfig, error) {
	c := router.RouteConfig{Name: r.GetName()}
	m := r.GetMatch()
	if m == nil {
		return c, errors.New("route has no match")
	}
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		c.Match.PathKind, c.Match.Path = router.PathPrefix, ps.Prefix
	case *routev3.RouteMatch_Path:
		c.Match.PathKind, c.Match.Path = router.PathExact, ps.Path
	case *routev3.RouteMatch_SafeRegex:
		c.Match.PathKind, c.Match.Path = router.PathRegex, ps.SafeRegex.GetRegex()
	case *routev3.RouteMatch_PathSeparatedPrefix:
		c.Match.PathKind, c.Match.Path = router.PathSeparatedPrefix, ps.PathSeparatedPrefix
	case nil:
		return c, errors.New("route match has no path specifier")
	default:
		return c, fmt.Errorf("unsupported path specifier %T", ps)
	}
	c.Match.CaseInsensitive = !boolValue(m.GetCaseSensitive(), true)
	c.Match.GRPC = m.GetGrpc() != nil
	if m.GetTlsContext() != nil || len(m.GetDynamicMetadata()) > 0 || len(m.GetFilterState()) > 0 {
		return c, errors.New("tls_context, dynamic_metadata and filter_state matches are not supported")
	}
	for _, h := range m.GetHeaders() {
		hm, err := headerMatch(h)
		if err != nil {
			return c, err
		}
		c.Match.Headers = append(c.Match.Headers, hm)
	}
	for _, q := range m.GetQueryParameters() {
		qm := router.QueryMatch{Name: q.GetName()}
		switch {
		case q.GetPresentMatch():
			qm.Present = true
		case q.GetStringMatch() != nil:
			sm, err := stringMatch(q.GetStringMatch())
			if err != nil {
				return c, fmt.Errorf("query parameter %q: %w", q.GetName(), err)
			}
			qm.String = sm
		default:
			return c, fmt.Errorf("query parameter %q: no match specifier", q.GetName())
		}
		c.Match.Query = append(c.Match.Query, qm)
	}

	switch a := r.GetAction().(type) {
	case *routev3.Route_Route:
		ra := a.Route
		switch cs := ra.GetClusterSpecifier().(type) {
		case *routev3.RouteAction_Cluster:
			c.Action.Cluster = cs.Cluster
		case *routev3.RouteAction_WeightedClusters:
			for _, w := range cs.WeightedClusters.GetClusters() {
				weight := uint32(0)
				if w.GetWeight() != nil {
					weight = w.GetWeight().GetValue()
				}
				c.Action.Weighted = append(c.Action.Weighted, router.WeightedCluster{Name: w.GetName(), Weight: weight})
			}
		default:
			return c, fmt.Errorf("unsupported cluster specifier %T", cs)
		}
		d, err := duration(ra.GetTimeout(), 0)
		if err != nil {
			return c, fmt.Errorf("timeout: %w", err)
		}
		c.Action.Timeout = d
	case *routev3.Route_DirectResponse:
		c.Action.DirectStatus = int(a.DirectResponse.GetStatus())
		c.Action.DirectBody = string(a.DirectResponse.GetBody().GetInlineBytes()) + a.DirectResponse.GetBody().GetInlineString()
	default:
		return c, fmt.Errorf("unsupported route action %T", a)
	}
	return c, nil
}

func headerMatch(h *routev3.HeaderMatcher) (router.HeaderMatch, error) {
	hm := router.HeaderMatch{Name: h.GetName(), Invert: h.GetInvertMatch(), MissingAsEmpty: h.GetTreatMissingHeaderAsEmpty()}
	var err error
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_StringMatch:
		hm.String, err = stringMatch(s.StringMatch)
	case *routev3.HeaderMatcher_PresentMatch:
		p := s.PresentMatch
		hm.Present = &p
	case *routev3.HeaderMatcher_ExactMatch:
		hm.String = router.StringMatch{Kind: router.Exact, Value: s.ExactMatch}
	case *routev3.HeaderMatcher_PrefixMatch:
		hm.String = router.StringMatch{Kind: router.Prefix, Value: s.PrefixMatch}
	case *routev3.HeaderMatcher_SuffixMatch:
		hm.String = router.StringMatch{Kind: router.Suffix, Value: s.SuffixMatch}
	case *routev3.HeaderMatcher_ContainsMatch:
		hm.String = router.StringMatch{Kind: router.Contains, Value: s.ContainsMatch}
	case *routev3.HeaderMatcher_SafeRegexMatch:
		hm.String = router.StringMatch{Kind: router.Regex, Value: s.SafeRegexMatch.GetRegex()}
	case nil:
		// No specifier: Envoy matches on presence.
		p := true
		hm.Present = &p
	default:
		err = fmt.Errorf("unsupported header match %T", s)
	}
	if err != nil {
		return hm, fmt.Errorf("header %q: %w", h.GetName(), err)
	}
	return hm, nil
}

func stringMatch(m *matcherv3.StringMatcher) (router.StringMatch, error) {
	sm := router.StringMatch{IgnoreCase: m.GetIgnoreCase()}
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		sm.Kind, sm.Value = router.Exact, p.Exact
	case *matcherv3.StringMatcher_Prefix:
		sm.Kind, sm.Value = router.Prefix, p.Prefix
	case *matcherv3.StringMatcher_Suffix:
		sm.Kind, sm.Value = router.Suffix, p.Suffix
	case *matcherv3.StringMatcher_Contains:
		sm.Kind, sm.Value = router.Contains, p.Contains
	case *matcherv3.StringMatcher_SafeRegex:
		sm.Kind, sm.Value = router.Regex, p.SafeRegex.GetRegex()
	default:
		return sm, fmt.Errorf("unsupported string match %T", p)
	}
	return sm, nil
}
