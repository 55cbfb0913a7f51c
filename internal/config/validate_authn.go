package config

import (
	"fmt"
	"net/http"
	"net/url"

	security "istio.io/api/security/v1beta1"

	"github.com/halyard-mesh/halyard/internal/jwk"
)

// validateRequestAuthentication applies Istio's checks of a
// RequestAuthentication: a selector or a targetRef, not both; every
// jwtRule has an issuer, a parseable jwks and an http(s) jwksUri, named
// locations and claim headers.
func validateRequestAuthentication(c *docCtx, ra *security.RequestAuthentication) {
	if ra.GetSelector() != nil {
		checkLabels(c, "spec.selector.matchLabels", ra.GetSelector().GetMatchLabels())
		if ra.GetTargetRef() != nil || len(ra.GetTargetRefs()) > 0 {
			c.errorf("spec", "only one of selector, targetRef or targetRefs may be set")
		}
	}
	for i, r := range ra.GetJwtRules() {
		validateJWTRule(c, fmt.Sprintf("spec.jwtRules[%d]", i), r)
	}
}

func validateJWTRule(c *docCtx, p string, r *security.JWTRule) {
	if r.GetIssuer() == "" {
		c.errorf(p+".issuer", "missing required field")
	}
	for i, a := range r.GetAudiences() {
		if a == "" {
			c.errorf(fmt.Sprintf("%s.audiences[%d]", p, i), "audience must be a non-empty string")
		}
	}
	if u := r.GetJwksUri(); u != "" {
		if err := checkJWKSURI(u); err != nil {
			c.errorf(p+".jwksUri", "%v", err)
		}
	}
	if j := r.GetJwks(); j != "" {
		if _, err := jwk.ParseSet([]byte(j)); err != nil {
			c.errorf(p+".jwks", "%v", err)
		}
		if r.GetJwksUri() != "" {
			c.warnf(p+".jwksUri", "jwks is set: jwksUri is not used")
		}
	}
	for i, h := range r.GetFromHeaders() {
		if h.GetName() == "" {
			c.errorf(fmt.Sprintf("%s.fromHeaders[%d].name", p, i), "location header name must be a non-empty string")
		}
	}
	for i, q := range r.GetFromParams() {
		if q == "" {
			c.errorf(fmt.Sprintf("%s.fromParams[%d]", p, i), "location query must be a non-empty string")
		}
	}
	for i, q := range r.GetFromCookies() {
		if q == "" {
			c.errorf(fmt.Sprintf("%s.fromCookies[%d]", p, i), "cookie name must be a non-empty string")
		}
	}
	seen := map[string]bool{}
	for i, ch := range r.GetOutputClaimToHeaders() {
		pp := fmt.Sprintf("%s.outputClaimToHeaders[%d]", p, i)
		h := http.CanonicalHeaderKey(ch.GetHeader())
		switch {
		case ch.GetHeader() == "" || !validHeaderName(ch.GetHeader()):
			c.errorf(pp+".header", "invalid header name %q", ch.GetHeader())
		case seen[h]:
			c.errorf(pp+".header", "duplicate header %q", ch.GetHeader())
		}
		seen[h] = true
		if ch.GetClaim() == "" {
			c.errorf(pp+".claim", "claim must be a non-empty string")
		}
	}
	if r.GetOutputPayloadToHeader() != "" && !validHeaderName(r.GetOutputPayloadToHeader()) {
		c.errorf(p+".outputPayloadToHeader", "invalid header name %q", r.GetOutputPayloadToHeader())
	}
	if t := r.GetTimeout(); t != nil && (t.CheckValid() != nil || t.AsDuration() <= 0) {
		c.errorf(p+".timeout", "must be a positive duration")
	}
}

// checkJWKSURI accepts an absolute http or https URL with a host, as
// Istio's ParseJwksURI.
func checkJWKSURI(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("invalid URL %q: the scheme must be http or https", s)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("invalid URL %q: no host", s)
	}
	return nil
}

// validHeaderName reports whether s is an HTTP header name (an RFC 9110
// token).
func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' ||
			c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' || c == '+' ||
			c == '.' || c == '^' || c == '`' || c == '|' || c == '~') {
			return false
		}
	}
	return s != ""
}
