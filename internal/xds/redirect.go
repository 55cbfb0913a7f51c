package xds

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	networking "istio.io/api/networking/v1alpha3"
)

// redirectAction translates a redirect as Istio's ApplyRedirect: uri
// replaces the whole path (path_redirect, left out when empty), authority the host, scheme the scheme;
// port sets the port, and derivePort FROM_REQUEST_PORT the port being
// routed (Envoy cannot take it from the request; the route serves one
// port), both left out when they are the scheme's default (80 for http,
// 443 for https, the scheme being "http" when not given). redirectCode
// 301 (the default), 302, 303, 307 or 308 is the response code; nil for
// any other code (the configuration loader rejects them).
func redirectAction(r *networking.HTTPRedirect, port uint32) *route.Route_Redirect {
	code, ok := redirectCode(r.RedirectCode)
	if !ok {
		return nil
	}
	out := &route.RedirectAction{HostRedirect: r.Authority, ResponseCode: code}
	if r.Uri != "" {
		out.PathRewriteSpecifier = &route.RedirectAction_PathRedirect{PathRedirect: r.Uri}
	}
	if r.Scheme != "" {
		out.SchemeRewriteSpecifier = &route.RedirectAction_SchemeRedirect{SchemeRedirect: r.Scheme}
	}
	if r.RedirectPort != nil {
		switch p := r.RedirectPort.(type) {
		case *networking.HTTPRedirect_Port:
			out.PortRedirect = p.Port
		case *networking.HTTPRedirect_DerivePort:
			if p.DerivePort == networking.HTTPRedirect_FROM_REQUEST_PORT {
				out.PortRedirect = port
			}
		}
		scheme := r.Scheme
		if scheme == "" {
			scheme = "http"
		}
		if (out.PortRedirect == 80 && scheme == "http") || (out.PortRedirect == 443 && scheme == "https") {
			out.PortRedirect = 0
		}
	}
	return &route.Route_Redirect{Redirect: out}
}

func redirectCode(code uint32) (route.RedirectAction_RedirectResponseCode, bool) {
	switch code {
	case 0, 301:
		return route.RedirectAction_MOVED_PERMANENTLY, true
	case 302:
		return route.RedirectAction_FOUND, true
	case 303:
		return route.RedirectAction_SEE_OTHER, true
	case 307:
		return route.RedirectAction_TEMPORARY_REDIRECT, true
	case 308:
		return route.RedirectAction_PERMANENT_REDIRECT, true
	}
	return 0, false
}

// directResponseAction answers with a status and an optional body, inline
// as a string or as bytes.
func directResponseAction(d *networking.HTTPDirectResponse) *route.Route_DirectResponse {
	out := &route.DirectResponseAction{Status: d.Status}
	switch b := d.GetBody().GetSpecifier().(type) {
	case *networking.HTTPBody_String_:
		out.Body = &core.DataSource{Specifier: &core.DataSource_InlineString{InlineString: b.String_}}
	case *networking.HTTPBody_Bytes:
		out.Body = &core.DataSource{Specifier: &core.DataSource_InlineBytes{InlineBytes: b.Bytes}}
	}
	return &route.Route_DirectResponse{DirectResponse: out}
}
