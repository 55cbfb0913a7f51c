package config

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

// validateHTTPConflicts applies Istio's rules on what a rule may combine:
// a redirect excludes route, fault, rewrite and directResponse; a
// directResponse excludes route, fault and rewrite; one of route, redirect
// or directResponse is required; mirror and mirrors exclude each other.
// The fields that only act on forwarded requests are warned about on a
// rule that does not forward.
func validateHTTPConflicts(c *docCtx, p string, r *networking.HTTPRoute) {
	switch {
	case r.Redirect != nil:
		conflicts(c, p, "redirect", len(r.Route) > 0, r.Fault != nil, r.Rewrite != nil, r.DirectResponse != nil)
	case r.DirectResponse != nil:
		conflicts(c, p, "directResponse", len(r.Route) > 0, r.Fault != nil, r.Rewrite != nil, false)
	case len(r.Route) == 0 && r.Delegate == nil:
		c.errorf(p+".route", "a route (or redirect, or directResponse) is required")
	}
	if r.Mirror != nil && len(r.Mirrors) > 0 {
		c.errorf(p+".mirrors", "mirror and mirrors cannot both be set")
	}
	if r.Redirect == nil && r.DirectResponse == nil {
		return
	}
	for _, f := range []struct {
		name string
		set  bool
	}{{"timeout", r.Timeout != nil}, {"retries", r.Retries != nil}, {"mirror", r.Mirror != nil},
		{"mirrors", len(r.Mirrors) > 0}, {"mirrorPercentage", r.MirrorPercentage != nil}} {
		if f.set {
			c.warnf(p+"."+f.name, "has no effect: the rule answers itself (redirect or directResponse) instead of forwarding")
		}
	}
}

// conflicts reports route, fault, rewrite and directResponse set along
// with what (redirect or directResponse).
func conflicts(c *docCtx, p, what string, route, fault, rewrite, direct bool) {
	for i, set := range []bool{route, fault, rewrite, direct} {
		if set {
			other := []string{"route", "fault", "rewrite", "directResponse"}[i]
			c.errorf(p+"."+other, "%s and %s cannot both be set", other, what)
		}
	}
}

// validateHTTPFeatures validates the fields of a rule besides its matches
// and destinations, as Istio's validateHTTPRoute does.
func validateHTTPFeatures(c *docCtx, p string, r *networking.HTTPRoute) {
	checkDuration(c, p+".timeout", r.Timeout)
	validateRetries(c, p+".retries", r.Retries)
	validateFault(c, p+".fault", r.Fault)
	validateMirrors(c, p, r)
	validateRedirect(c, p+".redirect", r.Redirect)
	validateDirectResponse(c, p+".directResponse", r.DirectResponse)
	validateRewrite(c, p+".rewrite", r.Rewrite)
	validateHeaderOps(c, p+".headers", r.Headers)
	validateAuthorityRewrite(c, p, r)
	validateCORS(c, p+".corsPolicy", r.CorsPolicy)
	for k, d := range r.Route {
		validateHeaderOps(c, fmt.Sprintf("%s.route[%d].headers", p, k), d.GetHeaders())
	}
}

// Envoy's retry conditions that Istio accepts in retryOn, besides status
// codes.
func retryOnPolicy(s string) bool {
	return slices.Contains([]string{"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure",
		"retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers", "envoy-ratelimited",
		"http3-post-connect-failure", "cancelled", "deadline-exceeded", "internal", "resource-exhausted",
		"unavailable"}, s)
}

func validateRetries(c *docCtx, p string, r *networking.HTTPRetry) {
	if r == nil {
		return
	}
	if r.Attempts < 0 {
		c.errorf(p+".attempts", "attempts %d must not be negative", r.Attempts)
	}
	if r.Attempts == 0 && (r.PerTryTimeout != nil || r.RetryOn != "" || r.RetryRemoteLocalities != nil) {
		c.errorf(p, "retry policy configured while attempts is 0 (retries disabled)")
	}
	checkDuration(c, p+".perTryTimeout", r.PerTryTimeout)
	checkDuration(c, p+".backoff", r.Backoff)
	if r.RetryOn == "" {
		return
	}
	// As Istio, parts are not trimmed here: "5xx, reset" is rejected.
	for _, part := range strings.Split(r.RetryOn, ",") {
		code, _ := strconv.Atoi(part)
		if http.StatusText(code) == "" && !retryOnPolicy(part) {
			c.errorf(p+".retryOn", "%q is not a valid retryOn policy: want Envoy retry conditions (5xx, reset, connect-failure, ...) or HTTP status codes", part)
		}
	}
}

func validateFault(c *docCtx, p string, f *networking.HTTPFaultInjection) {
	if f == nil {
		return
	}
	if f.Abort == nil && f.Delay == nil {
		c.errorf(p, "a fault needs an abort, a delay or both")
	}
	if a := f.Abort; a != nil {
		checkPercentage(c, p+".abort.percentage", a.Percentage)
		switch t := a.ErrorType.(type) {
		case *networking.HTTPFaultInjection_Abort_HttpStatus:
			checkHTTPStatus(c, p+".abort.httpStatus", int64(t.HttpStatus))
		case *networking.HTTPFaultInjection_Abort_GrpcStatus:
			if _, ok := GRPCStatusCode(t.GrpcStatus); !ok {
				c.errorf(p+".abort.grpcStatus", "unknown gRPC status %q: want a name such as UNAVAILABLE or NOT_FOUND", t.GrpcStatus)
			}
		case *networking.HTTPFaultInjection_Abort_Http2Error:
			c.errorf(p+".abort.http2Error", "HTTP/2 abort faults are not supported (as in Istio)")
		default:
			c.warnf(p+".abort", "abort has no httpStatus or grpcStatus: nothing is aborted")
		}
	}
	if d := f.Delay; d != nil {
		checkPercentage(c, p+".delay.percentage", d.Percentage)
		switch t := d.HttpDelayType.(type) {
		case *networking.HTTPFaultInjection_Delay_FixedDelay:
			checkDuration(c, p+".delay.fixedDelay", t.FixedDelay)
		case *networking.HTTPFaultInjection_Delay_ExponentialDelay:
			c.errorf(p+".delay.exponentialDelay", "exponentialDelay is not supported (as in Istio)")
		default:
			c.warnf(p+".delay", "delay has no fixedDelay: nothing is delayed")
		}
	}
}

func validateMirrors(c *docCtx, p string, r *networking.HTTPRoute) {
	if r.Mirror != nil {
		validateDestination(c, p+".mirror", r.Mirror)
	}
	checkPercentage(c, p+".mirrorPercentage", r.MirrorPercentage)
	if mp := r.MirrorPercent; mp != nil { //nolint:staticcheck // deprecated, still read
		if mp.GetValue() > 100 {
			c.errorf(p+".mirrorPercent", "percentage %d must be in the range 0..100", mp.GetValue())
		}
		c.warnf(p+".mirrorPercent", `deprecated: use "mirrorPercentage" instead`)
	}
	for i, m := range r.Mirrors {
		mp := fmt.Sprintf("%s.mirrors[%d]", p, i)
		if m.GetDestination() == nil {
			c.errorf(mp+".destination", "missing required field")
		} else {
			validateDestination(c, mp+".destination", m.Destination)
		}
		checkPercentage(c, mp+".percentage", m.GetPercentage())
	}
}

func validateRedirect(c *docCtx, p string, r *networking.HTTPRedirect) {
	if r == nil {
		return
	}
	if r.Uri == "" && r.Authority == "" && r.RedirectPort == nil && r.Scheme == "" {
		c.errorf(p, "a redirect needs uri, authority, scheme or port")
	}
	switch code := r.RedirectCode; {
	case code == 0:
	case code < 300 || code > 399:
		c.errorf(p+".redirectCode", "%d is not a redirect code (3xx)", code)
	case !slices.Contains([]uint32{301, 302, 303, 307, 308}, code):
		c.errorf(p+".redirectCode", "redirect code %d is not supported: Envoy redirects with 301, 302, 303, 307 or 308", code)
	}
	if r.Scheme != "" && r.Scheme != "http" && r.Scheme != "https" {
		c.errorf(p+".scheme", `invalid redirect scheme %q: must be "http" or "https"`, r.Scheme)
	}
	if port, ok := r.RedirectPort.(*networking.HTTPRedirect_Port); ok {
		checkPortNumber(c, p+".port", int64(port.Port))
	}
}

func validateDirectResponse(c *docCtx, p string, d *networking.HTTPDirectResponse) {
	if d == nil {
		return
	}
	checkHTTPStatus(c, p+".status", int64(d.Status))
	size := len(d.GetBody().GetString_()) + len(d.GetBody().GetBytes())
	switch {
	case size > 1<<20:
		c.errorf(p+".body", "the body is %d bytes: direct responses must be less than 1MB", size)
	case size > 100<<10:
		c.warnf(p+".body", "the body is %d bytes: large direct responses may slow the control plane down", size)
	}
}

func validateRewrite(c *docCtx, p string, r *networking.HTTPRewrite) {
	if r == nil {
		return
	}
	switch {
	case r.Uri != "" && r.UriRegexRewrite != nil:
		c.errorf(p, "rewrite may only contain one of uri or uriRegexRewrite")
	case r.Uri == "" && r.UriRegexRewrite == nil && r.Authority == "":
		c.errorf(p, "a rewrite needs uri, uriRegexRewrite or authority")
	}
	if rr := r.UriRegexRewrite; rr != nil {
		if rr.Match == "" || rr.Rewrite == "" {
			c.errorf(p+".uriRegexRewrite", "uriRegexRewrite needs both match and rewrite")
		} else {
			checkRegex(c, p+".uriRegexRewrite.match", rr.Match)
		}
	}
}
