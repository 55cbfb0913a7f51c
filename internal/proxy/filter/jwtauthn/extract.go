package jwtauthn

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// anyToken reports whether a token may be present at any provider's
// location; when not, the request is decided without parsing anything.
func (c *Config) anyToken(r *http.Request) bool {
	for _, p := range c.providers {
		for _, h := range p.headers {
			if len(r.Header[h.name]) > 0 {
				return true
			}
		}
		if r.URL.RawQuery != "" {
			for _, name := range p.params {
				if _, ok := queryParam(r.URL.RawQuery, name); ok {
					return true
				}
			}
		}
		if len(p.cookies) > 0 && len(r.Header["Cookie"]) > 0 {
			return true
		}
	}
	return false
}

// verify extracts the provider's token (the first location that has one)
// and verifies it: the issuer, then the time, the audiences and the
// signature, in Envoy's order; a token the provider verified before is
// taken from its cache and only its time is checked again. hdr is the
// header it came from.
func (p *provider) verify(r *http.Request, now time.Time) (Status, *token, string) {
	raw, hdr, found := p.extract(r)
	if !found {
		return Missing, nil, ""
	}
	if t := p.cache.get(raw); t != nil {
		if st := t.checkTime(now, p.skew, p.requireExp); st != OK {
			return st, nil, hdr
		}
		return OK, t, hdr
	}
	t, st := parse(raw)
	if st != OK {
		return st, nil, hdr
	}
	if p.issuer != "" && t.iss != p.issuer {
		return UnknownIssuer, nil, hdr
	}
	if st := t.checkTime(now, p.skew, p.requireExp); st != OK {
		return st, nil, hdr
	}
	if !t.audienceAllowed(p.audiences) {
		return AudienceNotAllowed, nil, hdr
	}
	if st := t.verify(p.keys); st != OK {
		return st, nil, hdr
	}
	p.cache.put(raw, t)
	return OK, t, hdr
}

// extract finds the provider's token, as Envoy's extractor: a header with
// the value prefix (a header without it holds no token), a query
// parameter, a cookie. A location that is there but empty ("Bearer ,",
// "?access_token=") yields an empty token, which fails as malformed.
func (p *provider) extract(r *http.Request) (raw, hdr string, found bool) {
	for _, h := range p.headers {
		for _, v := range r.Header[h.name] {
			if h.prefix != "" {
				if len(v) < len(h.prefix) || !strings.EqualFold(v[:len(h.prefix)], h.prefix) {
					continue
				}
				v = v[len(h.prefix):]
			}
			return tokenPrefix(strings.TrimSpace(v)), h.name, true
		}
	}
	if r.URL.RawQuery != "" {
		for _, name := range p.params {
			if v, ok := queryParam(r.URL.RawQuery, name); ok {
				return v, "", true
			}
		}
	}
	for _, name := range p.cookies {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return c.Value, "", true
		}
	}
	return "", "", false
}

// tokenPrefix is the value up to the first comma or white space: a
// token followed by ", other" is cut there. Anything else stays, so that
// a malformed token fails its parsing instead of passing as missing.
func tokenPrefix(v string) string {
	if i := strings.IndexAny(v, ", \t"); i >= 0 {
		return v[:i]
	}
	return v
}

// queryParam finds a query parameter without parsing the whole query.
func queryParam(q, name string) (string, bool) {
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != name {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			if u, err := url.QueryUnescape(v); err == nil {
				v = u
			}
		}
		return v, true
	}
	return "", false
}

// claimString renders a claim (dotted path into nested objects) for a
// header: strings as they are, numbers and booleans as JSON writes them.
func claimString(claims map[string]any, path []string) (string, bool) {
	var v any = claims
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = m[p]; !ok {
			return "", false
		}
	}
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	}
	return "", false
}
