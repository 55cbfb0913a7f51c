package xds

import (
	"cmp"
	"fmt"
	"slices"

	xdstype "github.com/cncf/xds/go/xds/type/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	jwtauthn "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	security "istio.io/api/security/v1beta1"

	"github.com/halyard-mesh/halyard/internal/config"
)

// Request authentication (RequestAuthentication), in Istio's shape: the
// jwtRules of every policy applying to the pod become the providers
// origins-<i> of one envoy.filters.http.jwt_authn filter, with Istio's
// "allow missing or valid" requirement, followed by istio_authn, which
// derives the request.auth.* attributes for authorization.

// Names of the request-authentication filters.
const (
	JWTAuthnFilter   = "envoy.filters.http.jwt_authn"
	IstioAuthnFilter = "istio_authn"
	// IstioAuthnConfigType is the type_url of istio_authn's TypedStruct.
	IstioAuthnConfigType = "type.googleapis.com/io.istio.network.authn.Config"
)

// JWKSSource gives the key set (JWKS JSON) behind a jwksUri: the control
// plane's fetcher, which keeps them fresh. An error (never fetched, or
// the URI failed) makes the provider use FakeJWKS.
type JWKSSource interface {
	JWKS(uri string) (string, error)
}

// FakeJWKS is the key set of a provider whose keys could not be had, as
// Istio's: an RSA public key whose private key nobody has, so every token
// of that issuer fails verification (401) while requests without a token
// still pass.
const FakeJWKS = `{"keys":[{"kty":"RSA","kid":"halyard-unreachable-jwks","alg":"RS256","e":"AQAB","n":"` +
	"Q0mBTrOYZReWVq0Y52hbQs6fdCzEcU8Iy9ykrHf34q-Zv9_bFYmaUJZrXbTu4CWj-y9ANcFjQ1o4Wx5stR2cX1BNsZe01PgSv_p1IlVkAnQj3XsC7-1TCkcWGx5r" +
	"JZK1yoPPr-sDeRkleSYXYiMCMb-R94GzvGI5Jx4ZAFruBO429ioT9Z-_jczjvRKL4xYl2kv60snw_GL8EGQwy5IOfPQ1vgyqdRZcrr8ecMbpfZDCGG13rv1n6ZbZ" +
	"Wr85m-F5C5pyybrJmgueSToF2Q4vpWxSVwonGvpx5QHQYeV5N2hPiXetZInWqOoDxARjgsKkOYcfZodIihVy9z77MEbeqQ" + `"}]}`

// authnHTTPFilters are the request-authentication filters of an inbound
// HTTP port: jwt_authn and istio_authn when a RequestAuthentication with
// jwtRules applies to the pod, none otherwise.
func (g *generator) authnHTTPFilters(uint32) []*hcm.HttpFilter {
	var rules []*security.JWTRule
	for _, ra := range g.requestAuthns() {
		rules = append(rules, ra.Spec.GetJwtRules()...)
	}
	if len(rules) == 0 {
		return nil
	}
	return []*hcm.HttpFilter{
		{Name: JWTAuthnFilter, ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: toAny(g.jwtAuthentication(rules))}},
		{Name: IstioAuthnFilter, ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: toAny(&xdstype.TypedStruct{
			TypeUrl: IstioAuthnConfigType, Value: &structpb.Struct{}})}},
	}
}

// requestAuthns are the RequestAuthentications applying to the pod, as
// Istio merges them: the mesh's (root namespace, no selector), the
// namespace's (no selector) and the workload's (selector matching the
// pod's labels), each level by name. Policies with a targetRef apply to
// gateways and waypoints, not sidecars, and are left out.
func (g *generator) requestAuthns() []*config.RequestAuthentication {
	var out []*config.RequestAuthentication
	level := func(ra *config.RequestAuthentication) int {
		sel := ra.Spec.GetSelector().GetMatchLabels()
		switch {
		case ra.Spec.GetTargetRef() != nil || len(ra.Spec.GetTargetRefs()) > 0:
			return -1
		case ra.Namespace == g.pod.Namespace && len(sel) > 0:
			if labelsMatch(sel, g.pod.Labels) {
				return 2
			}
			return -1
		case ra.Namespace == g.pod.Namespace:
			return 1
		case ra.Namespace == g.root && len(sel) == 0:
			return 0
		}
		return -1
	}
	for i := range g.requestAuths {
		if ra := &g.requestAuths[i]; level(ra) >= 0 {
			out = append(out, ra)
		}
	}
	slices.SortStableFunc(out, func(a, b *config.RequestAuthentication) int {
		return cmp.Or(cmp.Compare(level(a), level(b)), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// jwtAuthentication is Istio's jwt_authn config for the rules: one
// provider per rule and the requirement "each provider's token is valid
// or missing" (with several providers: any one valid, or all valid or
// missing).
func (g *generator) jwtAuthentication(rules []*security.JWTRule) *jwtauthn.JwtAuthentication {
	providers := map[string]*jwtauthn.JwtProvider{}
	var each, anyOf []*jwtauthn.JwtRequirement
	for i, r := range rules {
		name := fmt.Sprintf("origins-%d", i)
		providers[name] = g.jwtProvider(r)
		each = append(each, &jwtauthn.JwtRequirement{RequiresType: &jwtauthn.JwtRequirement_RequiresAny{
			RequiresAny: &jwtauthn.JwtRequirementOrList{Requirements: []*jwtauthn.JwtRequirement{
				providerRequirement(name),
				{RequiresType: &jwtauthn.JwtRequirement_AllowMissing{AllowMissing: &emptypb.Empty{}}},
			}}}})
		anyOf = append(anyOf, providerRequirement(name))
	}
	req := each[0]
	if len(each) > 1 {
		all := &jwtauthn.JwtRequirement{RequiresType: &jwtauthn.JwtRequirement_RequiresAll{
			RequiresAll: &jwtauthn.JwtRequirementAndList{Requirements: each}}}
		req = &jwtauthn.JwtRequirement{RequiresType: &jwtauthn.JwtRequirement_RequiresAny{
			RequiresAny: &jwtauthn.JwtRequirementOrList{Requirements: append(anyOf, all)}}}
	}
	return &jwtauthn.JwtAuthentication{
		Providers: providers,
		Rules: []*jwtauthn.RequirementRule{{
			Match:           &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
			RequirementType: &jwtauthn.RequirementRule_Requires{Requires: req},
		}},
		BypassCorsPreflight: true,
	}
}

func providerRequirement(name string) *jwtauthn.JwtRequirement {
	return &jwtauthn.JwtRequirement{RequiresType: &jwtauthn.JwtRequirement_ProviderName{ProviderName: name}}
}

// jwtProvider is one jwtRule as an Envoy provider, its keys inline.
func (g *generator) jwtProvider(r *security.JWTRule) *jwtauthn.JwtProvider {
	p := &jwtauthn.JwtProvider{
		Issuer:               r.GetIssuer(),
		Audiences:            r.GetAudiences(),
		Forward:              r.GetForwardOriginalToken(),
		ForwardPayloadHeader: r.GetOutputPayloadToHeader(),
		PayloadInMetadata:    r.GetIssuer(),
		FromParams:           r.GetFromParams(),
		FromCookies:          r.GetFromCookies(),
		JwksSourceSpecifier: &jwtauthn.JwtProvider_LocalJwks{LocalJwks: &core.DataSource{
			Specifier: &core.DataSource_InlineString{InlineString: g.jwks(r)}}},
	}
	for _, h := range r.GetFromHeaders() {
		p.FromHeaders = append(p.FromHeaders, &jwtauthn.JwtHeader{Name: h.GetName(), ValuePrefix: h.GetPrefix()})
	}
	for _, c := range r.GetOutputClaimToHeaders() {
		p.ClaimToHeaders = append(p.ClaimToHeaders, &jwtauthn.JwtClaimToHeader{HeaderName: c.GetHeader(), ClaimName: c.GetClaim()})
	}
	return p
}

// jwks is the rule's key set: jwks as written, else what the fetcher has
// for jwksUri, else FakeJWKS.
func (g *generator) jwks(r *security.JWTRule) string {
	if r.GetJwks() != "" {
		return r.GetJwks()
	}
	if g.jwksSource == nil || r.GetJwksUri() == "" {
		return FakeJWKS
	}
	keys, err := g.jwksSource.JWKS(r.GetJwksUri())
	if err != nil || keys == "" {
		return FakeJWKS
	}
	return keys
}
