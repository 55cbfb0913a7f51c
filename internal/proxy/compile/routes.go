package compile

import (
	"errors"
	"fmt"
	"github.com/halyard-mesh/halyard/internal/proxy/xdsconv"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/halyard-mesh/halyard/internal/proxy/filter"
	"github.com/halyard-mesh/halyard/internal/proxy/router"
)

// Routes compiles an RDS resource set into route tables by name.
func Routes(res []*routev3.RouteConfiguration) (map[string]*router.Table, error) {
	return RoutesFrom(SliceSeq(res))
}

// RoutesFrom is Routes over a sequence of resources.
func RoutesFrom(res Seq[*routev3.RouteConfiguration]) (map[string]*router.Table, error) {
	out := map[string]*router.Table{}
	err := res(func(rc *routev3.RouteConfiguration) error {
		t, err := compileRouteConfig(rc)
		if err != nil {
			return &Error{Kind: "route", Name: rc.GetName(), Err: err}
		}
		out[rc.GetName()] = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// defaultMaxDirectResponseBody is Envoy's max_direct_response_body_size_bytes.
const defaultMaxDirectResponseBody = 4096

func compileRouteConfig(rc *routev3.RouteConfiguration) (*router.Table, error) {
	tc := router.TableConfig{Name: rc.GetName(), MostSpecificHeaderMutationsWins: rc.GetMostSpecificHeaderMutationsWins(),
		IgnorePortInHostMatching: rc.GetIgnorePortInHostMatching()}
	var err error
	if tc.RequestHeaders, err = headerOps(rc.GetRequestHeadersToAdd(), rc.GetRequestHeadersToRemove()); err != nil {
		return nil, fmt.Errorf("request_headers_to_add: %w", err)
	}
	if tc.ResponseHeaders, err = headerOps(rc.GetResponseHeadersToAdd(), rc.GetResponseHeadersToRemove()); err != nil {
		return nil, fmt.Errorf("response_headers_to_add: %w", err)
	}
	if tc.PerFilter, err = filter.PerFilterConfigs(rc.GetTypedPerFilterConfig()); err != nil {
		return nil, err
	}
	if tc.Mirrors, err = mirrorPolicies(rc.GetRequestMirrorPolicies()); err != nil {
		return nil, err
	}
	if len(rc.GetClusterSpecifierPlugins()) > 0 || rc.GetVhds() != nil {
		return nil, errors.New("cluster_specifier_plugins and vhds are not supported")
	}
	maxBody := uint32(defaultMaxDirectResponseBody)
	if v := rc.GetMaxDirectResponseBodySizeBytes(); v != nil {
		maxBody = v.GetValue()
	}
	tc.VirtualHosts = make([]router.VirtualHostConfig, 0, len(rc.GetVirtualHosts()))
	for _, vh := range rc.GetVirtualHosts() {
		vc, err := compileVirtualHost(vh, maxBody)
		if err != nil {
			return nil, fmt.Errorf("virtual host %q: %w", vh.GetName(), err)
		}
		tc.VirtualHosts = append(tc.VirtualHosts, vc)
	}
	return router.NewTableConfig(tc)
}

func compileVirtualHost(vh *routev3.VirtualHost, maxBody uint32) (router.VirtualHostConfig, error) {
	vc := router.VirtualHostConfig{Name: vh.GetName(), Domains: vh.GetDomains()}
	if vh.GetRequireTls() != routev3.VirtualHost_NONE {
		return vc, errors.New("require_tls is not supported")
	}
	if vh.GetCors() != nil { //nolint:staticcheck // deprecated, rejected rather than ignored
		return vc, errors.New("cors is not supported: use typed_per_filter_config[envoy.filters.http.cors]")
	}
	if vh.GetRetryPolicyTypedConfig() != nil || vh.GetMatcher() != nil {
		return vc, errors.New("retry_policy_typed_config and matcher are not supported")
	}
	var err error
	if vc.RequestHeaders, err = headerOps(vh.GetRequestHeadersToAdd(), vh.GetRequestHeadersToRemove()); err != nil {
		return vc, fmt.Errorf("request_headers_to_add: %w", err)
	}
	if vc.ResponseHeaders, err = headerOps(vh.GetResponseHeadersToAdd(), vh.GetResponseHeadersToRemove()); err != nil {
		return vc, fmt.Errorf("response_headers_to_add: %w", err)
	}
	if vc.PerFilter, err = filter.PerFilterConfigs(vh.GetTypedPerFilterConfig()); err != nil {
		return vc, err
	}
	if vc.Retry, err = retryPolicy(vh.GetRetryPolicy()); err != nil {
		return vc, fmt.Errorf("retry_policy: %w", err)
	}
	if vc.Mirrors, err = mirrorPolicies(vh.GetRequestMirrorPolicies()); err != nil {
		return vc, err
	}
	for i, r := range vh.GetRoutes() {
		c, err := compileRoute(r, maxBody)
		if err != nil {
			name := r.GetName()
			if name == "" {
				name = fmt.Sprint("#", i)
			}
			return vc, fmt.Errorf("route %s: %w", name, err)
		}
		vc.Routes = append(vc.Routes, c)
	}
	return vc, nil
}

func compileRoute(r *routev3.Route, maxBody uint32) (router.RouteConfig, error) {
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
			sm, err := xdsconv.StringMatch(q.GetStringMatch())
			if err != nil {
				return c, fmt.Errorf("query parameter %q: %w", q.GetName(), err)
			}
			qm.String = sm
		default:
			return c, fmt.Errorf("query parameter %q: no match specifier", q.GetName())
		}
		c.Match.Query = append(c.Match.Query, qm)
	}

	var err error
	if c.RequestHeaders, err = headerOps(r.GetRequestHeadersToAdd(), r.GetRequestHeadersToRemove()); err != nil {
		return c, fmt.Errorf("request_headers_to_add: %w", err)
	}
	if c.ResponseHeaders, err = headerOps(r.GetResponseHeadersToAdd(), r.GetResponseHeadersToRemove()); err != nil {
		return c, fmt.Errorf("response_headers_to_add: %w", err)
	}
	if c.PerFilter, err = filter.PerFilterConfigs(r.GetTypedPerFilterConfig()); err != nil {
		return c, err
	}
	switch a := r.GetAction().(type) {
	case *routev3.Route_Route:
		if err := routeAction(a.Route, &c.Action); err != nil {
			return c, err
		}
	case *routev3.Route_Redirect:
		rd, err := redirectAction(a.Redirect)
		if err != nil {
			return c, fmt.Errorf("redirect: %w", err)
		}
		c.Action.Redirect = rd
	case *routev3.Route_DirectResponse:
		c.Action.DirectStatus = int(a.DirectResponse.GetStatus())
		b := a.DirectResponse.GetBody()
		if b.GetFilename() != "" || b.GetEnvironmentVariable() != "" {
			return c, errors.New("direct_response: only inline bodies are supported")
		}
		c.Action.DirectBody = string(b.GetInlineBytes()) + b.GetInlineString()
		if len(c.Action.DirectBody) > int(maxBody) {
			return c, fmt.Errorf("direct_response body of %d bytes is over max_direct_response_body_size_bytes (%d)", len(c.Action.DirectBody), maxBody)
		}
	default:
		return c, fmt.Errorf("unsupported route action %T", a)
	}
	return c, nil
}

func headerMatch(h *routev3.HeaderMatcher) (router.HeaderMatch, error) {
	return xdsconv.HeaderMatch(h)
}
