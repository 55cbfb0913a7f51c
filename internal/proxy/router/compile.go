package router

import (
	"fmt"
	"slices"
	"strings"
)

// compileAction compiles what a route does beyond matching: its targets
// with their merged header operations, and the policies it inherits.
func (rt *Route) compileAction(rc RouteConfig, vc *VirtualHostConfig, tc *TableConfig) error {
	a := &rt.Action
	if a.DirectStatus != 0 && a.Redirect != nil {
		return fmt.Errorf("route has both a redirect and a direct response")
	}
	// Header levels, least to most general (Envoy's default order; the
	// later level wins an overwrite), or the reverse.
	reqLevels := []HeaderOps{rc.RequestHeaders, vc.RequestHeaders, tc.RequestHeaders}
	respLevels := []HeaderOps{rc.ResponseHeaders, vc.ResponseHeaders, tc.ResponseHeaders}
	mutation := func(wc *HeaderOps, levels []HeaderOps) (*HeaderMutation, error) {
		ls := levels
		if wc != nil {
			ls = append([]HeaderOps{*wc}, levels...)
		}
		if tc.MostSpecificHeaderMutationsWins {
			ls = slices.Clone(ls)
			slices.Reverse(ls)
		}
		return compileHeaderOps(ls...)
	}
	var err error
	if rt.localHeaders, err = mutation(nil, respLevels); err != nil {
		return fmt.Errorf("response headers: %w", err)
	}
	switch {
	case a.DirectStatus != 0:
	case a.Redirect != nil:
		rd := &redirect{cfg: *a.Redirect}
		if rd.cfg.Code == 0 {
			rd.cfg.Code = 301
		}
		switch rd.cfg.Code {
		case 301, 302, 303, 307, 308:
		default:
			return fmt.Errorf("redirect response code %d is not a redirect", rd.cfg.Code)
		}
		if rd.regex, err = compileRegexRewrite(a.Redirect.RegexRewrite); err != nil {
			return fmt.Errorf("redirect: %w", err)
		}
		rd.pathHasQuery = strings.Contains(rd.cfg.Path, "?")
		rt.redirect = rd
	default:
		dests := a.Weighted
		if len(dests) == 0 {
			dests = []WeightedCluster{{Name: a.Cluster}}
		}
		rt.targets = make([]Target, len(dests))
		for i := range dests {
			d := &dests[i]
			var wreq, wresp *HeaderOps
			if len(a.Weighted) > 0 {
				wreq, wresp = &d.RequestHeaders, &d.ResponseHeaders
			}
			t := &rt.targets[i]
			t.Cluster, t.HostRewrite = d.Name, a.HostRewrite
			if d.HostRewrite != "" {
				t.HostRewrite = d.HostRewrite
			}
			if t.RequestHeaders, err = mutation(wreq, reqLevels); err != nil {
				return fmt.Errorf("request headers: %w", err)
			}
			if t.ResponseHeaders, err = mutation(wresp, respLevels); err != nil {
				return fmt.Errorf("response headers: %w", err)
			}
		}
		if rt.regexRewrite, err = compileRegexRewrite(a.RegexRewrite); err != nil {
			return err
		}
		if a.RegexRewrite != nil && a.PrefixRewrite != "" {
			return fmt.Errorf("route has both prefix_rewrite and regex_rewrite")
		}
		retry := a.Retry
		if retry == nil {
			retry = vc.Retry
		}
		if rt.retry, err = compileRetry(retry); err != nil {
			return err
		}
		rt.mirrors = a.Mirrors
		if len(rt.mirrors) == 0 {
			rt.mirrors = vc.Mirrors
		}
		if len(rt.mirrors) == 0 {
			rt.mirrors = tc.Mirrors
		}
		for _, m := range rt.mirrors {
			if m.Cluster == "" {
				return fmt.Errorf("request mirror policy without a cluster")
			}
		}
		if rt.hash, err = compileHashPolicies(a.HashPolicy); err != nil {
			return err
		}
		if a.ClusterNotFoundStatus == 0 {
			a.ClusterNotFoundStatus = 503
		}
	}
	rt.perFilter = mergePerFilter(rc.PerFilter, vc.PerFilter, tc.PerFilter)
	return nil
}

// mergePerFilter takes, per slot, the most specific config.
func mergePerFilter(levels ...[]any) []any {
	n := 0
	for _, l := range levels {
		n = max(n, len(l))
	}
	if n == 0 {
		return nil
	}
	out := make([]any, n)
	for i := range out {
		for _, l := range levels {
			if i < len(l) && l[i] != nil {
				out[i] = l[i]
				break
			}
		}
	}
	return out
}

// FilterConfig returns the per-route config of the HTTP filter in a slot
// (the route's, else its virtual host's, else the table's), or nil.
func (rt *Route) FilterConfig(slot int) any {
	if slot < len(rt.perFilter) {
		return rt.perFilter[slot]
	}
	return nil
}

// Retry returns the route's compiled retry policy (the virtual host's when
// the route has none), or nil.
func (rt *Route) Retry() *Retry { return rt.retry }

// Mirrors returns the route's request mirror policies (else the virtual
// host's, else the table's).
func (rt *Route) Mirrors() []MirrorPolicy { return rt.mirrors }

// IsRedirect reports whether the route answers with a redirect.
func (rt *Route) IsRedirect() bool { return rt.redirect != nil }

// LocalResponseHeaders are the response header operations (route, virtual
// host, table) applied to the responses the route itself produces: direct
// responses, redirects and the router's local replies.
func (rt *Route) LocalResponseHeaders() *HeaderMutation { return rt.localHeaders }
