package router

import (
	"net/http"
	"strconv"
	"strings"
)

// RewritesPath reports whether the route rewrites the path (prefix_rewrite
// or regex_rewrite).
func (rt *Route) RewritesPath() bool { return rt.regexRewrite != nil || rt.Action.PrefixRewrite != "" }

// RewritePath returns the upstream :path (path and query) for the
// request's :path under the route's regex_rewrite or prefix_rewrite, with
// Envoy's semantics: regex_rewrite replaces every match in the path and
// keeps the query; prefix_rewrite replaces what the route matched — the
// prefix of a prefix (or path_separated_prefix) match, the whole path of
// an exact or regex match — so prefix "/v1/" with rewrite "/api/v1/" turns
// "/v1/x?q" into "/api/v1/x?q", and prefix "/foo" with rewrite "/" turns
// "/foo/x" into "//x".
func (rt *Route) RewritePath(full string) string {
	return rewritePath(full, rt.pathKind, len(rt.path), rt.Action.PrefixRewrite, rt.regexRewrite)
}

func rewritePath(full string, kind PathKind, matchLen int, prefix string, rr *regexRewrite) string {
	path, query := full, ""
	if i := strings.IndexByte(full, '?'); i >= 0 {
		path, query = full[:i], full[i:]
	}
	if rr != nil {
		return rr.apply(path) + query
	}
	if prefix == "" {
		return full
	}
	n := len(path) // a regex match: the whole path
	if kind != PathRegex {
		n = min(matchLen, len(full))
	}
	return prefix + full[n:]
}

// RedirectLocation returns the Location of a redirect route for r, built
// as Envoy's RouteEntryImplBase::newUri: scheme, host, port and path each
// replaced when configured, else the request's (the request's port is
// dropped when the port is replaced, or when the scheme changes and the
// port was the old scheme's default).
func (rt *Route) RedirectLocation(r *http.Request) string {
	rd := rt.redirect
	scheme := rd.cfg.Scheme
	if scheme == "" {
		scheme = requestScheme(r)
	}
	port := ""
	if rd.cfg.Port != 0 {
		port = ":" + strconv.FormatUint(uint64(rd.cfg.Port), 10)
	}
	host := rd.cfg.Host
	if host == "" {
		host = redirectRequestHost(r, scheme, port != "")
	}
	full := requestPath(r)
	var path string
	switch {
	case rd.cfg.Path != "":
		path = rd.cfg.Path
		if !rd.pathHasQuery {
			if i := strings.IndexByte(full, '?'); i >= 0 {
				path += full[i:]
			}
		}
	case rd.cfg.PrefixRewrite != "" || rd.regex != nil:
		path = rewritePath(full, rt.pathKind, len(rt.path), rd.cfg.PrefixRewrite, rd.regex)
	default:
		path = full
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if rd.cfg.StripQuery && !rd.pathHasQuery {
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
	}
	return scheme + "://" + host + port + path
}

// RedirectCode is the redirect's status code.
func (rt *Route) RedirectCode() int { return rt.redirect.cfg.Code }

type redirect struct {
	cfg          Redirect
	regex        *regexRewrite
	pathHasQuery bool
}

func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// redirectRequestHost is Envoy's processRequestHost: the request's host,
// without its port when a new port is set, or when the scheme changes and
// the port is the default of the request's x-forwarded-proto.
func redirectRequestHost(r *http.Request, newScheme string, newPort bool) string {
	host := r.Host
	if host == "" {
		return host
	}
	var end int
	if host[0] == '[' {
		end = strings.LastIndex(host, "]:")
		if end >= 0 {
			end++
		}
	} else {
		end = strings.LastIndexByte(host, ':')
	}
	if end < 0 {
		return host
	}
	reqPort := host[end:]
	proto := r.Header.Get("X-Forwarded-Proto")
	remove := newPort
	if newScheme != proto {
		remove = remove || proto == "https" && reqPort == ":443" || proto == "http" && reqPort == ":80"
	}
	if remove {
		return host[:end]
	}
	return host
}
