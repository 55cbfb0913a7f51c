// Package xdsconv converts small Envoy API values shared by the route
// compiler and the HTTP filters into the router's runtime forms.
package xdsconv

import (
	"fmt"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
)

// Fraction converts a FractionalPercent; none is 0%, as in Envoy.
func Fraction(p *typev3.FractionalPercent) router.Fraction {
	if p == nil {
		return router.Fraction{}
	}
	den := uint32(100)
	switch p.GetDenominator() {
	case typev3.FractionalPercent_TEN_THOUSAND:
		den = 10000
	case typev3.FractionalPercent_MILLION:
		den = 1000000
	}
	return router.Fraction{Numerator: p.GetNumerator(), Denominator: den}
}

// StringMatch converts a StringMatcher (exact, prefix, suffix, contains,
// safe_regex, ignore_case).
func StringMatch(m *matcherv3.StringMatcher) (router.StringMatch, error) {
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

// HeaderMatch converts a HeaderMatcher (string_match, present_match, the
// deprecated exact/prefix/suffix/contains/safe_regex forms; no specifier
// is a presence match, as in Envoy).
func HeaderMatch(h *routev3.HeaderMatcher) (router.HeaderMatch, error) {
	hm := router.HeaderMatch{Name: h.GetName(), Invert: h.GetInvertMatch(), MissingAsEmpty: h.GetTreatMissingHeaderAsEmpty()}
	var err error
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_StringMatch:
		hm.String, err = StringMatch(s.StringMatch)
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
