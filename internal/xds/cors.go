package xds

import (
	"strconv"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
)

// CORSFilter is the CORS filter's name: on every outbound HTTP connection
// manager, with an empty config, and configured per route in
// typed_per_filter_config with a CorsPolicy.
const CORSFilter = "envoy.filters.http.cors"

// corsPolicy translates a route's corsPolicy as Istio's TranslateCORSPolicy:
// origins as string matchers (the deprecated allowOrigin as exact
// matches), methods and headers joined with ",", max_age in whole seconds,
// the filter enabled for 100% of requests, and preflights that match no
// allowed origin forwarded upstream unless unmatchedPreflights is IGNORE.
func corsPolicy(in *networking.CorsPolicy) *corsv3.CorsPolicy {
	out := &corsv3.CorsPolicy{
		AllowOriginStringMatch:       originMatchers(in),
		AllowMethods:                 strings.Join(in.AllowMethods, ","),
		AllowHeaders:                 strings.Join(in.AllowHeaders, ","),
		ExposeHeaders:                strings.Join(in.ExposeHeaders, ","),
		AllowCredentials:             in.AllowCredentials,
		ForwardNotMatchingPreflights: wrapperspb.Bool(in.UnmatchedPreflights != networking.CorsPolicy_IGNORE),
		FilterEnabled:                &core.RuntimeFractionalPercent{DefaultValue: integerPercent(100)},
	}
	if in.MaxAge != nil {
		out.MaxAge = strconv.FormatInt(in.MaxAge.GetSeconds(), 10)
	}
	return out
}

func originMatchers(in *networking.CorsPolicy) []*matcher.StringMatcher {
	var out []*matcher.StringMatcher
	if in.AllowOrigins != nil {
		for _, o := range in.AllowOrigins {
			if m := originMatcher(o); m != nil {
				out = append(out, m)
			}
		}
		return out
	}
	for _, o := range in.AllowOrigin { //nolint:staticcheck // deprecated but honoured, as Istio does
		out = append(out, &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: o}})
	}
	return out
}

// originMatcher is an origin's StringMatch as an Envoy matcher; Istio's
// validation rejects empty ones, which are left out.
func originMatcher(sm *networking.StringMatch) *matcher.StringMatcher {
	switch t := sm.GetMatchType().(type) {
	case *networking.StringMatch_Exact:
		if t.Exact != "" {
			return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: t.Exact}}
		}
	case *networking.StringMatch_Prefix:
		if t.Prefix != "" {
			return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: t.Prefix}}
		}
	case *networking.StringMatch_Regex:
		if t.Regex != "" {
			return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: t.Regex}}}
		}
	}
	return nil
}
