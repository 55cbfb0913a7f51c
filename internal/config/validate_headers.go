package config

import (
	"fmt"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

// validateHeaderOps checks a Headers block as Istio does: request set/add
// may name any header but a pseudo-header (":authority" and "host" are
// allowed: they rewrite the authority); request remove and every response
// operation may not name a pseudo-header or Host. Values may not have
// control characters or a lone "%".
func validateHeaderOps(c *docCtx, p string, h *networking.Headers) {
	if h == nil {
		return
	}
	for _, dir := range []struct {
		name string
		ops  *networking.Headers_HeaderOperations
	}{{"request", h.Request}, {"response", h.Response}} {
		dp := p + "." + dir.name
		for _, op := range []string{"set", "add"} {
			m := dir.ops.GetSet()
			if op == "add" {
				m = dir.ops.GetAdd()
			}
			for _, name := range sortedKeys(m) {
				fp := dp + "." + op + "[" + name + "]"
				checkHeaderOpName(c, fp, name, dir.name == "request")
				checkHeaderValue(c, fp, m[name])
			}
		}
		for i, name := range dir.ops.GetRemove() {
			checkHeaderOpName(c, fmt.Sprintf("%s.remove[%d]", dp, i), name, false)
		}
	}
}

func checkHeaderOpName(c *docCtx, field, name string, authorityAllowed bool) {
	switch {
	case name == "":
		c.errorf(field, "header name cannot be empty")
	case authorityAllowed && isAuthorityHeader(name):
	case strings.EqualFold(name, "host"):
		c.errorf(field, "invalid header %q: the Host header cannot be changed here", name)
	case strings.HasPrefix(name, ":"):
		c.errorf(field, "invalid header %q: pseudo-headers (\":\" prefix) cannot be changed", name)
	}
}

func isAuthorityHeader(name string) bool {
	return strings.EqualFold(name, ":authority") || strings.EqualFold(name, "host")
}

// validateAuthorityRewrite allows one authority rewrite per rule: by
// rewrite.authority or by setting or adding ":authority" or "host" in the
// request headers.
func validateAuthorityRewrite(c *docCtx, p string, r *networking.HTTPRoute) {
	first := ""
	if r.GetRewrite().GetAuthority() != "" {
		first = p + ".rewrite.authority"
	}
	req := r.GetHeaders().GetRequest()
	for _, op := range []string{"set", "add"} {
		m := req.GetSet()
		if op == "add" {
			m = req.GetAdd()
		}
		for _, name := range sortedKeys(m) {
			if !isAuthorityHeader(name) {
				continue
			}
			field := p + ".headers.request." + op + "[" + name + "]"
			if first != "" {
				c.errorf(field, "the authority is already rewritten by %s: it can be set only once", first)
				continue
			}
			first = field
		}
	}
}

// validateCORS applies Istio's validateCORSPolicy.
func validateCORS(c *docCtx, p string, cp *networking.CorsPolicy) {
	if cp == nil {
		return
	}
	for i, o := range cp.AllowOrigins {
		op := fmt.Sprintf("%s.allowOrigins[%d]", p, i)
		if o.GetExact() == "" && o.GetPrefix() == "" && o.GetRegex() == "" {
			c.errorf(op, "an origin match needs a non-empty exact, prefix or regex")
		} else if re, ok := o.GetMatchType().(*networking.StringMatch_Regex); ok {
			checkRegex(c, op+".regex", re.Regex)
		}
	}
	for i, m := range cp.AllowMethods {
		if !strings.Contains(" GET HEAD POST PUT PATCH DELETE CONNECT OPTIONS TRACE ", " "+m+" ") || m == "" {
			c.errorf(fmt.Sprintf("%s.allowMethods[%d]", p, i), "%q is not a supported HTTP method", m)
		}
	}
	for _, list := range []struct {
		name  string
		items []string
	}{{"allowHeaders", cp.AllowHeaders}, {"exposeHeaders", cp.ExposeHeaders}} {
		for i, h := range list.items {
			if h != "*" && !isToken(h) {
				c.errorf(fmt.Sprintf("%s.%s[%d]", p, list.name, i), "invalid header name %q", h)
			}
		}
	}
	if checkDuration(c, p+".maxAge", cp.MaxAge) && cp.MaxAge.GetNanos() > 0 {
		c.errorf(p+".maxAge", "maxAge is accurate only to seconds")
	}
}
