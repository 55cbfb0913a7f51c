package xds

import (
	"maps"
	"slices"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
)

// routeMatch translates one HTTPMatchRequest; all its conditions must hold.
// Header and query parameter matchers are sorted by name.
func routeMatch(m *networking.HTTPMatchRequest) *route.RouteMatch {
	out := uriMatch(m.Uri)
	if m.IgnoreUriCase {
		out.CaseSensitive = wrapperspb.Bool(false)
	}
	for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
		out.Headers = append(out.Headers, headerMatcher(name, m.Headers[name], false))
	}
	for _, name := range slices.Sorted(maps.Keys(m.WithoutHeaders)) {
		out.Headers = append(out.Headers, headerMatcher(name, m.WithoutHeaders[name], true))
	}
	for _, pseudo := range []struct {
		name string
		sm   *networking.StringMatch
	}{{":method", m.Method}, {":authority", m.Authority}, {":scheme", m.Scheme}} {
		if pseudo.sm != nil {
			out.Headers = append(out.Headers, headerMatcher(pseudo.name, pseudo.sm, false))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m.QueryParams)) {
		out.QueryParameters = append(out.QueryParameters, queryMatcher(name, m.QueryParams[name]))
	}
	return out
}

func prefixMatch(p string) *route.RouteMatch {
	return &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: p}}
}

// uriMatch maps uri exact/prefix/regex to path/prefix/safe_regex; no uri
// condition is prefix "/".
func uriMatch(sm *networking.StringMatch) *route.RouteMatch {
	switch t := sm.GetMatchType().(type) {
	case *networking.StringMatch_Exact:
		return &route.RouteMatch{PathSpecifier: &route.RouteMatch_Path{Path: t.Exact}}
	case *networking.StringMatch_Prefix:
		return prefixMatch(t.Prefix)
	case *networking.StringMatch_Regex:
		if t.Regex == "" { // an empty RE2 fully matches only the empty path
			return &route.RouteMatch{PathSpecifier: &route.RouteMatch_Path{Path: ""}}
		}
		return &route.RouteMatch{PathSpecifier: &route.RouteMatch_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: t.Regex}}}
	}
	return prefixMatch("/")
}

// headerMatcher matches a header by an Istio StringMatch; an empty match
// ({}), like an empty prefix, only requires the header to be present.
func headerMatcher(name string, sm *networking.StringMatch, invert bool) *route.HeaderMatcher {
	h := &route.HeaderMatcher{Name: name, InvertMatch: invert}
	if s := stringMatcher(sm); s != nil {
		h.HeaderMatchSpecifier = &route.HeaderMatcher_StringMatch{StringMatch: s}
	} else {
		h.HeaderMatchSpecifier = &route.HeaderMatcher_PresentMatch{PresentMatch: true}
	}
	return h
}

func queryMatcher(name string, sm *networking.StringMatch) *route.QueryParameterMatcher {
	q := &route.QueryParameterMatcher{Name: name}
	if s := stringMatcher(sm); s != nil {
		q.QueryParameterMatchSpecifier = &route.QueryParameterMatcher_StringMatch{StringMatch: s}
	} else {
		q.QueryParameterMatchSpecifier = &route.QueryParameterMatcher_PresentMatch{PresentMatch: true}
	}
	return q
}

// stringMatcher converts an Istio StringMatch; nil means "any value". An
// empty prefix matches any value; an empty regex only the empty value
// (Envoy rejects both as written).
func stringMatcher(sm *networking.StringMatch) *matcher.StringMatcher {
	switch t := sm.GetMatchType().(type) {
	case *networking.StringMatch_Exact:
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: t.Exact}}
	case *networking.StringMatch_Prefix:
		if t.Prefix == "" {
			return nil
		}
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: t.Prefix}}
	case *networking.StringMatch_Regex:
		if t.Regex == "" {
			return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: ""}}
		}
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: t.Regex}}}
	}
	return nil
}
