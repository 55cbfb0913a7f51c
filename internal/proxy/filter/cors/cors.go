// Package cors is the CORS filter (envoy.filters.http.cors), driven by the
// CorsPolicy of the route (or its virtual host) in typed_per_filter_config,
// as Istio's VirtualService corsPolicy is translated: the proxy answers
// preflight requests itself and adds the Access-Control-Allow-* headers to
// the responses of requests from an allowed origin.
package cors

import (
	"fmt"
	"github.com/halyard-mesh/halyard/internal/proxy/xdsconv"
	"net/http"

	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/halyard-mesh/halyard/internal/proxy/filter"
	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/router"
)

// Name is the filter's name.
const Name = "envoy.filters.http.cors"

const (
	filterType = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"
	policyType = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy"
)

func init() {
	filter.Register(&filter.Factory{
		Name:          Name,
		ConfigTypes:   []string{filterType},
		PerRouteTypes: []string{policyType},
		New:           newFilter,
		PerRoute:      parsePolicy,
	})
}

// Policy is a compiled CorsPolicy.
type Policy struct {
	origins          []*router.StringMatcher
	allowAny         bool // an exact "*" origin
	allowMethods     []string
	allowHeaders     []string
	exposeHeaders    []string
	maxAge           []string
	allowCredentials bool
	privateNetwork   bool
	enabled          router.Fraction
	forwardUnmatched bool
}

func parsePolicy(a *anypb.Any) (any, error) {
	pb := &corsv3.CorsPolicy{}
	if err := a.UnmarshalTo(pb); err != nil {
		return nil, err
	}
	return Compile(pb)
}

// Compile compiles a CorsPolicy.
func Compile(pb *corsv3.CorsPolicy) (*Policy, error) {
	p := &Policy{
		allowCredentials: pb.GetAllowCredentials().GetValue(),
		privateNetwork:   pb.GetAllowPrivateNetworkAccess().GetValue(),
		enabled:          router.Fraction{Numerator: 100, Denominator: 100},
		forwardUnmatched: true,
	}
	if v := pb.GetForwardNotMatchingPreflights(); v != nil {
		p.forwardUnmatched = v.GetValue()
	}
	if fe := pb.GetFilterEnabled(); fe != nil {
		p.enabled = xdsconv.Fraction(fe.GetDefaultValue())
	}
	if pb.GetShadowEnabled() != nil && pb.GetFilterEnabled() == nil {
		// Shadow mode only evaluates the policy: nothing is enforced.
		p.enabled = router.Fraction{}
	}
	for _, m := range pb.GetAllowOriginStringMatch() {
		if e, ok := m.GetMatchPattern().(*matcherv3.StringMatcher_Exact); ok && e.Exact == "*" {
			p.allowAny = true
			continue
		}
		sm, err := xdsconv.StringMatch(m)
		if err != nil {
			return nil, fmt.Errorf("cors: allow_origin_string_match: %w", err)
		}
		c, err := router.NewStringMatcher(sm)
		if err != nil {
			return nil, fmt.Errorf("cors: allow_origin_string_match: %w", err)
		}
		p.origins = append(p.origins, c)
	}
	p.allowMethods = headerValue(pb.GetAllowMethods())
	p.allowHeaders = headerValue(pb.GetAllowHeaders())
	p.exposeHeaders = headerValue(pb.GetExposeHeaders())
	p.maxAge = headerValue(pb.GetMaxAge())
	return p, nil
}

// headerValue is a header value shared by every response (nil when empty).
func headerValue(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}[:1:1]
}

func (p *Policy) originAllowed(origin string) bool {
	if p.allowAny {
		return true
	}
	for _, m := range p.origins {
		if m.Match(origin) {
			return true
		}
	}
	return false
}

type corsFilter struct{ slot int }

func newFilter(a *anypb.Any, slot int) (hcm.Filter, error) {
	if a != nil {
		if err := a.UnmarshalTo(&corsv3.Cors{}); err != nil {
			return nil, err
		}
	}
	return &corsFilter{slot: slot}, nil
}

// OnRequest follows Envoy's CorsFilter::decodeHeaders: without a policy or
// an Origin nothing happens; a preflight (OPTIONS with
// Access-Control-Request-Method) is answered 200 by the proxy — with the
// Access-Control-Allow-* headers when the origin is allowed — unless the
// origin is not allowed and forward_not_matching_preflights is set, in
// which case it goes upstream like any request.
func (f *corsFilter) OnRequest(x *hcm.Exchange) bool {
	v, ok := x.PerRoute(f.slot).(*Policy)
	if !ok {
		return true
	}
	r := x.Request
	origin := r.Header["Origin"]
	if len(origin) == 0 || origin[0] == "" || !v.enabled.Hit() {
		return true
	}
	allowed := v.originAllowed(origin[0])
	acrm := r.Header["Access-Control-Request-Method"]
	if r.Method != http.MethodOptions || len(acrm) == 0 || acrm[0] == "" {
		if allowed {
			x.Mark(f.slot)
		}
		return true
	}
	if !allowed && v.forwardUnmatched {
		return true
	}
	if allowed {
		h := x.ResponseHeader()
		h["Access-Control-Allow-Origin"] = origin[:1:1]
		if v.allowCredentials {
			h["Access-Control-Allow-Credentials"] = trueValue
		}
		if v.allowMethods != nil {
			h["Access-Control-Allow-Methods"] = v.allowMethods
		}
		if v.allowHeaders != nil {
			h["Access-Control-Allow-Headers"] = v.allowHeaders
		}
		if v.maxAge != nil {
			h["Access-Control-Max-Age"] = v.maxAge
		}
		if v.privateNetwork {
			if pn := r.Header["Access-Control-Request-Private-Network"]; len(pn) > 0 && pn[0] == "true" {
				h["Access-Control-Allow-Private-Network"] = trueValue
			}
		}
	}
	x.SendHeaders(http.StatusOK, "cors preflight")
	return false
}

var trueValue = []string{"true"}[:1:1]

// OnResponse adds Access-Control-Allow-Origin (and -Credentials,
// Access-Control-Expose-Headers) to the response of a request from an
// allowed origin.
func (f *corsFilter) OnResponse(x *hcm.Exchange, _ int, h http.Header) {
	if !x.Marked(f.slot) {
		return
	}
	v := x.PerRoute(f.slot).(*Policy)
	h["Access-Control-Allow-Origin"] = x.Request.Header["Origin"][:1:1]
	if v.allowCredentials {
		h["Access-Control-Allow-Credentials"] = trueValue
	}
	if v.exposeHeaders != nil {
		h["Access-Control-Expose-Headers"] = v.exposeHeaders
	}
}
