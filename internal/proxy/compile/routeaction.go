package compile

import (
	"errors"
	"fmt"
	"github.com/halyard-mesh/halyard/internal/proxy/xdsconv"
	"net/http"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
)

const (
	previousHostsPredicate     = "envoy.retry_host_predicates.previous_hosts"
	previousHostsPredicateType = "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
)

// routeAction compiles a RouteAction. Fields that change where or how a
// request goes and that the proxy does not implement are rejected, so that
// a NACK says so instead of traffic silently going elsewhere.
func routeAction(ra *routev3.RouteAction, a *router.Action) error {
	switch cs := ra.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		a.Cluster = cs.Cluster
	case *routev3.RouteAction_WeightedClusters:
		for _, w := range cs.WeightedClusters.GetClusters() {
			if w.GetClusterHeader() != "" {
				return errors.New("weighted_clusters: cluster_header is not supported")
			}
			if len(w.GetTypedPerFilterConfig()) > 0 {
				return fmt.Errorf("weighted cluster %q: typed_per_filter_config is not supported", w.GetName())
			}
			wc := router.WeightedCluster{Name: w.GetName(), Weight: w.GetWeight().GetValue(), HostRewrite: w.GetHostRewriteLiteral()}
			var err error
			if wc.RequestHeaders, err = headerOps(w.GetRequestHeadersToAdd(), w.GetRequestHeadersToRemove()); err != nil {
				return fmt.Errorf("weighted cluster %q: request_headers_to_add: %w", w.GetName(), err)
			}
			if wc.ResponseHeaders, err = headerOps(w.GetResponseHeadersToAdd(), w.GetResponseHeadersToRemove()); err != nil {
				return fmt.Errorf("weighted cluster %q: response_headers_to_add: %w", w.GetName(), err)
			}
			a.Weighted = append(a.Weighted, wc)
		}
	default:
		return fmt.Errorf("unsupported cluster specifier %T", cs)
	}
	switch ra.GetClusterNotFoundResponseCode() {
	case routev3.RouteAction_NOT_FOUND:
		a.ClusterNotFoundStatus = http.StatusNotFound
	case routev3.RouteAction_INTERNAL_SERVER_ERROR:
		a.ClusterNotFoundStatus = http.StatusInternalServerError
	default:
		a.ClusterNotFoundStatus = http.StatusServiceUnavailable
	}
	var err error
	if a.Timeout, err = duration(ra.GetTimeout(), 0); err != nil {
		return fmt.Errorf("timeout: %w", err)
	}
	if ra.GetMaxGrpcTimeout() != nil {
		a.HasMaxGRPCTimeout = true
		if a.MaxGRPCTimeout, err = duration(ra.GetMaxGrpcTimeout(), 0); err != nil {
			return fmt.Errorf("max_grpc_timeout: %w", err)
		}
	}
	if d := ra.GetGrpcTimeoutOffset(); d != nil && d.AsDuration() != 0 {
		return errors.New("grpc_timeout_offset is not supported")
	}

	// Rewrites.
	a.PrefixRewrite = ra.GetPrefixRewrite()
	if rr := ra.GetRegexRewrite(); rr != nil {
		a.RegexRewrite = &router.RegexRewrite{Pattern: rr.GetPattern().GetRegex(), Substitution: rr.GetSubstitution()}
	}
	if ra.GetPathRewritePolicy() != nil || ra.GetPathRewrite() != "" {
		return errors.New("path_rewrite_policy and path_rewrite are not supported")
	}
	switch hr := ra.GetHostRewriteSpecifier().(type) {
	case nil:
	case *routev3.RouteAction_HostRewriteLiteral:
		a.HostRewrite = hr.HostRewriteLiteral
	case *routev3.RouteAction_AutoHostRewrite:
		if hr.AutoHostRewrite.GetValue() {
			return errors.New("auto_host_rewrite is not supported")
		}
	default:
		return fmt.Errorf("unsupported host rewrite %T", hr)
	}
	if ra.GetCors() != nil { //nolint:staticcheck // deprecated, rejected rather than ignored
		return errors.New("cors is not supported: use typed_per_filter_config[envoy.filters.http.cors]")
	}

	if ra.GetRetryPolicyTypedConfig() != nil {
		return errors.New("retry_policy_typed_config is not supported")
	}
	if a.Retry, err = retryPolicy(ra.GetRetryPolicy()); err != nil {
		return fmt.Errorf("retry_policy: %w", err)
	}
	if a.Mirrors, err = mirrorPolicies(ra.GetRequestMirrorPolicies()); err != nil {
		return err
	}
	if a.HashPolicy, err = hashPolicies(ra.GetHashPolicy()); err != nil {
		return err
	}
	return nil
}

// retryPolicy compiles a RetryPolicy (nil: none). num_retries defaults to
// 1 and host_selection_retry_max_attempts to 1, as in Envoy; unknown
// retry_on conditions are ignored, as Envoy does.
func retryPolicy(p *routev3.RetryPolicy) (*router.RetryPolicy, error) {
	if p == nil {
		return nil, nil
	}
	on, _ := router.ParseRetryOn(p.GetRetryOn())
	rp := &router.RetryPolicy{
		On:                       on,
		NumRetries:               1,
		StatusCodes:              p.GetRetriableStatusCodes(),
		HostSelectionMaxAttempts: int(p.GetHostSelectionRetryMaxAttempts()),
	}
	if n := p.GetNumRetries(); n != nil {
		rp.NumRetries = n.GetValue()
	}
	var err error
	if rp.PerTryTimeout, err = duration(p.GetPerTryTimeout(), 0); err != nil {
		return nil, fmt.Errorf("per_try_timeout: %w", err)
	}
	if bo := p.GetRetryBackOff(); bo != nil {
		if bo.GetBaseInterval() == nil {
			return nil, errors.New("retry_back_off: base_interval is required")
		}
		if rp.BaseInterval, err = duration(bo.GetBaseInterval(), 0); err != nil {
			return nil, fmt.Errorf("retry_back_off: %w", err)
		}
		if rp.BaseInterval <= 0 {
			return nil, errors.New("retry_back_off: base_interval must be positive")
		}
		if rp.MaxInterval, err = duration(bo.GetMaxInterval(), 0); err != nil {
			return nil, fmt.Errorf("retry_back_off: %w", err)
		}
	}
	for _, hp := range p.GetRetryHostPredicate() {
		if hp.GetName() == previousHostsPredicate || hp.GetTypedConfig().GetTypeUrl() == previousHostsPredicateType {
			rp.AvoidPreviousHosts = true
			continue
		}
		return nil, fmt.Errorf("unsupported retry_host_predicate %q", hp.GetName())
	}
	// retry_priority (previous_priorities) does nothing with the single
	// priority the proxy balances over.
	if len(p.GetRetriableHeaders()) > 0 || len(p.GetRetriableRequestHeaders()) > 0 || len(p.GetRetryOptionsPredicates()) > 0 {
		return nil, errors.New("retriable_headers, retriable_request_headers and retry_options_predicates are not supported")
	}
	return rp, nil
}

// mirrorPolicies compiles request_mirror_policies. A policy without
// runtime_fraction mirrors every request.
func mirrorPolicies(ps []*routev3.RouteAction_RequestMirrorPolicy) ([]router.MirrorPolicy, error) {
	var out []router.MirrorPolicy
	for _, p := range ps {
		if p.GetClusterHeader() != "" || p.GetCluster() == "" {
			return nil, errors.New("request_mirror_policies: only a cluster name is supported")
		}
		m := router.MirrorPolicy{Cluster: p.GetCluster(), Fraction: router.Fraction{Numerator: 100, Denominator: 100},
			KeepHost: p.GetDisableShadowHostSuffixAppend()}
		if rf := p.GetRuntimeFraction(); rf != nil {
			m.Fraction = xdsconv.Fraction(rf.GetDefaultValue())
		}
		out = append(out, m)
	}
	return out, nil
}

func hashPolicies(ps []*routev3.RouteAction_HashPolicy) ([]router.HashPolicy, error) {
	var out []router.HashPolicy
	for _, p := range ps {
		hp := router.HashPolicy{Terminal: p.GetTerminal()}
		switch s := p.GetPolicySpecifier().(type) {
		case *routev3.RouteAction_HashPolicy_Header_:
			hp.Kind, hp.Name = router.HashHeader, s.Header.GetHeaderName()
			if rr := s.Header.GetRegexRewrite(); rr != nil {
				hp.RegexRewrite = regexRewrite(rr)
			}
		case *routev3.RouteAction_HashPolicy_Cookie_:
			c := s.Cookie
			if len(c.GetAttributes()) > 0 {
				return nil, errors.New("hash_policy: cookie attributes are not supported")
			}
			hp.Kind, hp.Name, hp.CookiePath = router.HashCookie, c.GetName(), c.GetPath()
			if c.GetTtl() != nil {
				d, err := duration(c.GetTtl(), 0)
				if err != nil {
					return nil, fmt.Errorf("hash_policy: cookie ttl: %w", err)
				}
				hp.CookieTTL, hp.HasTTL = d, true
			}
		case *routev3.RouteAction_HashPolicy_ConnectionProperties_:
			if !s.ConnectionProperties.GetSourceIp() {
				continue
			}
			hp.Kind = router.HashSourceIP
		case *routev3.RouteAction_HashPolicy_QueryParameter_:
			hp.Kind, hp.Name = router.HashQueryParameter, s.QueryParameter.GetName()
		default:
			return nil, fmt.Errorf("hash_policy: unsupported %T", s)
		}
		out = append(out, hp)
	}
	return out, nil
}

func regexRewrite(rr *matcherv3.RegexMatchAndSubstitute) *router.RegexRewrite {
	return &router.RegexRewrite{Pattern: rr.GetPattern().GetRegex(), Substitution: rr.GetSubstitution()}
}

// redirectAction compiles a RedirectAction.
func redirectAction(rd *routev3.RedirectAction) (*router.Redirect, error) {
	out := &router.Redirect{Host: rd.GetHostRedirect(), Port: rd.GetPortRedirect(), StripQuery: rd.GetStripQuery()}
	switch s := rd.GetSchemeRewriteSpecifier().(type) {
	case *routev3.RedirectAction_HttpsRedirect:
		if s.HttpsRedirect {
			out.Scheme = "https"
		}
	case *routev3.RedirectAction_SchemeRedirect:
		out.Scheme = s.SchemeRedirect
	}
	switch p := rd.GetPathRewriteSpecifier().(type) {
	case *routev3.RedirectAction_PathRedirect:
		out.Path = p.PathRedirect
	case *routev3.RedirectAction_PrefixRewrite:
		out.PrefixRewrite = p.PrefixRewrite
	case *routev3.RedirectAction_RegexRewrite:
		out.RegexRewrite = regexRewrite(p.RegexRewrite)
	}
	switch rd.GetResponseCode() {
	case routev3.RedirectAction_MOVED_PERMANENTLY:
		out.Code = http.StatusMovedPermanently
	case routev3.RedirectAction_FOUND:
		out.Code = http.StatusFound
	case routev3.RedirectAction_SEE_OTHER:
		out.Code = http.StatusSeeOther
	case routev3.RedirectAction_TEMPORARY_REDIRECT:
		out.Code = http.StatusTemporaryRedirect
	case routev3.RedirectAction_PERMANENT_REDIRECT:
		out.Code = http.StatusPermanentRedirect
	default:
		return nil, fmt.Errorf("unknown response_code %v", rd.GetResponseCode())
	}
	return out, nil
}

// headerOps compiles one level's header additions and removals.
func headerOps(add []*corev3.HeaderValueOption, remove []string) (router.HeaderOps, error) {
	var ops router.HeaderOps
	for _, o := range add {
		h := o.GetHeader()
		if h == nil {
			return ops, errors.New("header value option without a header")
		}
		hv := router.HeaderValue{Name: h.GetKey(), Value: h.GetValue(), KeepEmpty: o.GetKeepEmptyValue()}
		if hv.Value == "" && len(h.GetRawValue()) > 0 {
			hv.Value = string(h.GetRawValue())
		}
		if ap := o.GetAppend(); ap != nil { //nolint:staticcheck // deprecated but honoured, as Envoy does
			hv.Action = router.OverwriteIfExistsOrAdd
			if ap.GetValue() {
				hv.Action = router.AppendIfExistsOrAdd
			}
		} else {
			switch o.GetAppendAction() {
			case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
				hv.Action = router.AppendIfExistsOrAdd
			case corev3.HeaderValueOption_ADD_IF_ABSENT:
				hv.Action = router.AddIfAbsent
			case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
				hv.Action = router.OverwriteIfExistsOrAdd
			case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
				hv.Action = router.OverwriteIfExists
			default:
				return ops, fmt.Errorf("header %q: unknown append_action %v", hv.Name, o.GetAppendAction())
			}
		}
		ops.Add = append(ops.Add, hv)
	}
	ops.Remove = remove
	return ops, nil
}
