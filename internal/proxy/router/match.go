// Package router holds the compiled, immutable form of an Envoy
// RouteConfiguration and matches requests against it.
//
// A Table is built once per RDS update (or per inline route_config) and is
// then only read; the data plane swaps whole tables with atomic pointers.
// Matching does not allocate for the common cases (ASCII lower-case host,
// single-valued headers, unescaped paths).
package router

import (
	"fmt"
	"net/http"
	"net/textproto"
	"regexp"
	"strings"
)

// StringKind selects how a StringMatch compares.
type StringKind uint8

// String match kinds, as in envoy.type.matcher.v3.StringMatcher.
const (
	Exact StringKind = iota
	Prefix
	Suffix
	Contains
	Regex
)

// StringMatch is the configuration of a string matcher.
type StringMatch struct {
	Kind       StringKind
	Value      string // the literal, or the RE2 pattern for Regex
	IgnoreCase bool   // not applicable to Regex (as in Envoy)
}

// stringMatcher is a compiled StringMatch.
type stringMatcher struct {
	kind       StringKind
	value      string // lower-cased when ignoreCase
	ignoreCase bool
	re         *regexp.Regexp
}

func compileString(m StringMatch) (stringMatcher, error) {
	sm := stringMatcher{kind: m.Kind, value: m.Value, ignoreCase: m.IgnoreCase}
	switch m.Kind {
	case Exact, Prefix, Suffix, Contains:
		if m.IgnoreCase {
			sm.value = strings.ToLower(m.Value)
		}
	case Regex:
		re, err := compileRegex(m.Value)
		if err != nil {
			return sm, err
		}
		sm.re = re
		sm.ignoreCase = false
	default:
		return sm, fmt.Errorf("unknown string match kind %d", m.Kind)
	}
	return sm, nil
}

// compileRegex compiles an RE2 pattern that must match the whole input, as
// Envoy's safe_regex does.
func compileRegex(pattern string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return nil, fmt.Errorf("invalid regex %q: %w", pattern, err)
	}
	return re, nil
}

func (m *stringMatcher) match(v string) bool {
	switch m.kind {
	case Exact:
		if m.ignoreCase {
			return strings.EqualFold(v, m.value)
		}
		return v == m.value
	case Prefix:
		if m.ignoreCase {
			return len(v) >= len(m.value) && strings.EqualFold(v[:len(m.value)], m.value)
		}
		return strings.HasPrefix(v, m.value)
	case Suffix:
		if m.ignoreCase {
			return len(v) >= len(m.value) && strings.EqualFold(v[len(v)-len(m.value):], m.value)
		}
		return strings.HasSuffix(v, m.value)
	case Contains:
		if m.ignoreCase {
			return containsFold(v, m.value)
		}
		return strings.Contains(v, m.value)
	case Regex:
		return m.re.MatchString(v)
	}
	return false
}

// containsFold reports whether lower-case needle occurs in s, ignoring ASCII
// case, without allocating.
func containsFold(s, needle string) bool {
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], needle) {
			return true
		}
	}
	return false
}

// HeaderMatch is the configuration of an Envoy HeaderMatcher.
type HeaderMatch struct {
	// Name is the header name; pseudo-headers ":method", ":authority",
	// ":path" and ":scheme" are supported.
	Name string
	// Present, when non-nil, makes this a present_match: the header must be
	// present (true) or absent (false). String is ignored then.
	Present *bool
	String  StringMatch
	// Invert inverts the result (invert_match).
	Invert bool
	// MissingAsEmpty treats an absent header as "" (treat_missing_header_as_empty).
	MissingAsEmpty bool
}

type headerSource uint8

const (
	srcHeader headerSource = iota
	srcMethod
	srcAuthority
	srcPath
	srcScheme
)

type headerMatcher struct {
	key            string // canonical MIME key for srcHeader
	src            headerSource
	present        int8 // -1: not a present match; 0: must be absent; 1: must be present
	str            stringMatcher
	invert         bool
	missingAsEmpty bool
}

func compileHeader(h HeaderMatch) (headerMatcher, error) {
	hm := headerMatcher{invert: h.Invert, missingAsEmpty: h.MissingAsEmpty, present: -1}
	name := strings.ToLower(h.Name)
	switch name {
	case ":method":
		hm.src = srcMethod
	case ":authority", "host":
		hm.src = srcAuthority
	case ":path":
		hm.src = srcPath
	case ":scheme":
		hm.src = srcScheme
	case "":
		return hm, fmt.Errorf("header matcher without a name")
	default:
		if strings.HasPrefix(name, ":") {
			return hm, fmt.Errorf("unsupported pseudo-header %q", h.Name)
		}
		hm.key = textproto.CanonicalMIMEHeaderKey(name)
	}
	if h.Present != nil {
		hm.present = 0
		if *h.Present {
			hm.present = 1
		}
		return hm, nil
	}
	sm, err := compileString(h.String)
	if err != nil {
		return hm, fmt.Errorf("header %q: %w", h.Name, err)
	}
	hm.str = sm
	return hm, nil
}

// value returns the request's value for the header and whether it is present.
// Multiple values are joined with "," as Envoy does (this allocates; it is rare).
func (h *headerMatcher) value(r *http.Request) (string, bool) {
	switch h.src {
	case srcMethod:
		return r.Method, true
	case srcAuthority:
		return r.Host, r.Host != ""
	case srcPath:
		return requestPath(r), true
	case srcScheme:
		if r.TLS != nil {
			return "https", true
		}
		return "http", true
	}
	vs, ok := r.Header[h.key]
	switch {
	case !ok || len(vs) == 0:
		return "", false
	case len(vs) == 1:
		return vs[0], true
	default:
		return strings.Join(vs, ","), true
	}
}

func (h *headerMatcher) match(r *http.Request) bool {
	v, ok := h.value(r)
	if h.present >= 0 {
		return ok == (h.present == 1) != h.invert
	}
	if !ok {
		if !h.missingAsEmpty {
			// Envoy: an absent header does not match a string matcher; the
			// result is then inverted like any other.
			return h.invert
		}
		v = ""
	}
	return h.str.match(v) != h.invert
}

// requestPath returns the :path of a request (path and query, origin form).
func requestPath(r *http.Request) string {
	if u := r.RequestURI; u != "" && u[0] == '/' {
		return u
	}
	return r.URL.RequestURI()
}

// QueryMatch is the configuration of an Envoy QueryParameterMatcher.
type QueryMatch struct {
	Name string
	// Present makes this a present_match (the parameter must be present).
	Present bool
	String  StringMatch
}

type queryMatcher struct {
	name    string
	present bool
	str     stringMatcher
}

func compileQuery(q QueryMatch) (queryMatcher, error) {
	if q.Name == "" {
		return queryMatcher{}, fmt.Errorf("query parameter matcher without a name")
	}
	qm := queryMatcher{name: q.Name, present: q.Present}
	if !q.Present {
		sm, err := compileString(q.String)
		if err != nil {
			return qm, fmt.Errorf("query parameter %q: %w", q.Name, err)
		}
		qm.str = sm
	}
	return qm, nil
}

func (q *queryMatcher) match(rawQuery string) bool {
	v, ok := queryValue(rawQuery, q.name)
	if !ok {
		return false
	}
	if q.present {
		return true
	}
	return q.str.match(v)
}

// queryValue finds the first value of key in a raw query string without
// allocating unless the value is percent-encoded.
func queryValue(raw, key string) (string, bool) {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if strings.ContainsAny(k, "%+") {
			if uk, err := unescapeQuery(k); err == nil {
				k = uk
			}
		}
		if k != key {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			if uv, err := unescapeQuery(v); err == nil {
				v = uv
			}
		}
		return v, true
	}
	return "", false
}

// StringMatcher is a compiled StringMatch, for filters that match values
// (CORS origins). It is immutable.
type StringMatcher struct{ m stringMatcher }

// NewStringMatcher compiles a StringMatch.
func NewStringMatcher(m StringMatch) (*StringMatcher, error) {
	sm, err := compileString(m)
	if err != nil {
		return nil, err
	}
	return &StringMatcher{m: sm}, nil
}

// Match reports whether v matches.
func (s *StringMatcher) Match(v string) bool { return s.m.match(v) }

// HeaderMatcher is a compiled HeaderMatch, for filters that match request
// headers (rbac). It is immutable.
type HeaderMatcher struct{ h headerMatcher }

// NewHeaderMatcher compiles a HeaderMatch.
func NewHeaderMatcher(h HeaderMatch) (*HeaderMatcher, error) {
	hm, err := compileHeader(h)
	if err != nil {
		return nil, err
	}
	return &HeaderMatcher{h: hm}, nil
}

// Match reports whether the request matches.
func (h *HeaderMatcher) Match(r *http.Request) bool { return h.h.match(r) }
