package jwtauthn_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/halyard-mesh/halyard/internal/jwk/jwktest"
	"github.com/halyard-mesh/halyard/internal/proxy/filter/filtertest"
	"github.com/halyard-mesh/halyard/internal/proxy/filter/jwtauthn"
	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/router"
)

const issuer = "https://issuer.example"

var now = time.Unix(1_800_000_000, 0)

func mustKey(t testing.TB, alg, kid string) *jwktest.Key {
	t.Helper()
	k, err := jwktest.NewKey(alg, kid)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// istioProvider is a provider as the control plane generates it.
func istioProvider(jwks string, mod func(*jwtv3.JwtProvider)) *jwtv3.JwtProvider {
	p := &jwtv3.JwtProvider{
		Issuer: issuer, Audiences: []string{"bookinfo"},
		JwksSourceSpecifier: &jwtv3.JwtProvider_LocalJwks{LocalJwks: &corev3.DataSource{
			Specifier: &corev3.DataSource_InlineString{InlineString: jwks}}},
		PayloadInMetadata: issuer,
	}
	if mod != nil {
		mod(p)
	}
	return p
}

// allowMissing is Istio's requirement for one provider.
func allowMissing(name string) *jwtv3.JwtRequirement {
	return &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_RequiresAny{RequiresAny: &jwtv3.JwtRequirementOrList{
		Requirements: []*jwtv3.JwtRequirement{
			{RequiresType: &jwtv3.JwtRequirement_ProviderName{ProviderName: name}},
			{RequiresType: &jwtv3.JwtRequirement_AllowMissing{AllowMissing: &emptypb.Empty{}}},
		}}}}
}

func config(providers map[string]*jwtv3.JwtProvider, req *jwtv3.JwtRequirement) *jwtv3.JwtAuthentication {
	return &jwtv3.JwtAuthentication{
		Providers: providers,
		Rules: []*jwtv3.RequirementRule{{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			RequirementType: &jwtv3.RequirementRule_Requires{Requires: req}}},
		BypassCorsPreflight: true,
	}
}

func start(t *testing.T, pb *jwtv3.JwtAuthentication, extra ...hcm.Filter) *filtertest.Proxy {
	t.Helper()
	c, err := jwtauthn.Compile(pb)
	if err != nil {
		t.Fatal(err)
	}
	f := append([]hcm.Filter{jwtauthn.New(c, func() time.Time { return now })}, extra...)
	return filtertest.Start(t, f, router.VirtualHostConfig{Routes: []router.RouteConfig{{Name: "all",
		Match: router.Match{PathKind: router.PathPrefix, Path: "/"}, Action: router.Action{Cluster: "up"}}}})
}

func claims(mod map[string]any) map[string]any {
	c := map[string]any{"iss": issuer, "sub": "alice", "aud": "bookinfo",
		"exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Hour).Unix(), "iat": now.Add(-time.Hour).Unix()}
	for k, v := range mod {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// TestRejects: every bad or forged token is refused before the upstream,
// with Envoy's status text.
func TestRejects(t *testing.T) {
	rs := mustKey(t, "RS256", "k1")
	es := mustKey(t, "ES256", "k2")
	impostor := mustKey(t, "RS256", "k1") // another key with the same kid
	p := start(t, config(map[string]*jwtv3.JwtProvider{"origins-0": istioProvider(jwktest.JWKS(rs, es), nil)}, allowMissing("origins-0")))
	good := rs.Sign(claims(nil), nil)
	parts := strings.Split(good, ".")
	hdr, pay, sig := parts[0], parts[1], parts[2]
	pubJWK, _ := json.Marshal(rs.JWK())
	hs := func() string { // HS256 keyed with the public key (algorithm confusion)
		h := b64(`{"alg":"HS256","kid":"k1"}`) + "." + pay
		return h + "." + b64(string(hmacSHA256(pubJWK, []byte(h))))
	}()
	cases := []struct {
		name, token, want string
		code              int
	}{
		{"alg none", b64(`{"alg":"none"}`) + "." + pay + ".", "Jwt header [alg] is not supported", 401},
		{"alg none with signature", b64(`{"alg":"none","kid":"k1"}`) + "." + pay + "." + sig, "Jwt header [alg] is not supported", 401},
		{"HS256 with the public key as secret", hs, "Jwt header [alg] is not supported", 401},
		{"expired", rs.Sign(claims(map[string]any{"exp": now.Add(-61 * time.Second).Unix()}), nil), "Jwt is expired", 401},
		{"not yet valid", rs.Sign(claims(map[string]any{"nbf": now.Add(61 * time.Second).Unix()}), nil), "Jwt not yet valid", 401},
		{"wrong issuer", rs.Sign(claims(map[string]any{"iss": "https://evil.example"}), nil), "Jwt issuer is not configured", 401},
		{"no issuer", rs.Sign(claims(map[string]any{"iss": nil}), nil), "Jwt issuer is not configured", 401},
		{"wrong audience", rs.Sign(claims(map[string]any{"aud": "other"}), nil), "Audiences in Jwt are not allowed", 401},
		{"bad signature", hdr + "." + pay + "." + b64("not a signature at all, but long enough"), "Jwt verification fails", 401},
		{"payload swapped", hdr + "." + b64(`{"iss":"`+issuer+`","sub":"admin","aud":"bookinfo"}`) + "." + sig, "Jwt verification fails", 401},
		{"unknown kid", rs.Sign(claims(nil), map[string]any{"kid": "nope"}), "Jwks doesn't have key to match kid or alg from Jwt", 401},
		{"same kid, other key", impostor.Sign(claims(nil), nil), "Jwt verification fails", 401},
		{"alg of another key type", es.Sign(claims(nil), map[string]any{"alg": "RS256", "kid": "k2"}), "Jwks doesn't have key to match kid or alg from Jwt", 401},
		{"header bad base64", "!!!." + pay + "." + sig, "Jwt header is an invalid Base64url encoded", 401},
		{"payload bad base64", hdr + ".***." + sig, "Jwt payload is an invalid Base64url encoded", 401},
		{"signature bad base64", hdr + "." + pay + ".@@@", "Jwt signature is an invalid Base64url encoded", 401},
		{"header bad JSON", b64(`{"alg":`) + "." + pay + "." + sig, "Jwt header is an invalid JSON", 401},
		{"payload bad JSON", hdr + "." + b64(`[1,2`) + "." + sig, "Jwt payload is an invalid JSON", 401},
		{"alg not a string", b64(`{"alg":7}`) + "." + pay + "." + sig, "Jwt header [alg] field is required and must be a string", 401},
		{"kid not a string", b64(`{"alg":"RS256","kid":1}`) + "." + pay + "." + sig, "Jwt header [kid] field is not a string", 401},
		{"exp not a number", rs.Sign(claims(map[string]any{"exp": "tomorrow"}), nil), "Jwt payload [exp], [nbf] or [iat] field is not a positive 64 bit integer", 401},
		{"oversize", rs.Sign(claims(map[string]any{"pad": strings.Repeat("x", jwtauthn.MaxTokenSize)}), nil), "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections", 401},
		{"two parts", hdr + "." + pay, "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections", 401},
		{"four parts", good + ".x", "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections", 401},
		{"empty parts", "..", "Jwt header is an invalid Base64url encoded", 401},
		{"empty signature", hdr + "." + pay + ".", "Jwt signature is an invalid Base64url encoded", 401},
		{"truncated signature", hdr + "." + pay + "." + sig[:len(sig)/2], "Jwt verification fails", 401},
		{"empty token before a comma", ",other", "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections", 401},
		{"query: access_token=", "", "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections", 401},
		{"query: a=1&access_token=" + good + "x", "", "Jwt verification fails", 401},
		{"ES256 signature of wrong length", es.Sign(claims(nil), nil) + "AA", "Jwt verification fails", 401},
	}
	c := &http.Client{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := p.Upstream.Load()
			path, hdr := "/x", bearer(tc.token)
			if q, ok := strings.CutPrefix(tc.name, "query: "); ok {
				path, hdr = "/x?"+q, nil
			}
			resp, body := p.Do(t, c, "GET", path, hdr)
			if resp.StatusCode != tc.code || body != tc.want {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tc.code, tc.want)
			}
			if got := resp.Header.Get("Www-Authenticate"); !strings.HasPrefix(got, `Bearer realm="http://`) || !strings.Contains(got, `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			if n := p.Upstream.Load() - before; n != 0 {
				t.Errorf("%d requests reached the upstream", n)
			}
		})
	}
	// "Bearer " arrives as "Bearer" (header values are trimmed): without
	// its prefix the header holds no token, and the request passes, as
	// with Envoy.
	resp, _ := p.Do(t, c, "GET", "/x", http.Header{"Authorization": {"Bearer "}})
	if resp.StatusCode != 200 {
		t.Errorf("bare Bearer: got %d, want 200 (no token)", resp.StatusCode)
	}
	if len(cases) < 20 {
		t.Fatalf("only %d cases", len(cases))
	}
}

// TestClockSkew: Envoy's 60 s of skew on both ends.
func TestClockSkew(t *testing.T) {
	rs := mustKey(t, "RS256", "k1")
	p := start(t, config(map[string]*jwtv3.JwtProvider{"p": istioProvider(jwktest.JWKS(rs), nil)}, allowMissing("p")))
	c := &http.Client{}
	for _, tc := range []struct {
		name string
		mod  map[string]any
		code int
	}{
		{"expired 59s ago", map[string]any{"exp": now.Add(-59 * time.Second).Unix()}, 200},
		{"expired 60s ago", map[string]any{"exp": now.Add(-60 * time.Second).Unix()}, 401},
		{"valid in 60s", map[string]any{"nbf": now.Add(60 * time.Second).Unix()}, 200},
		{"valid in 61s", map[string]any{"nbf": now.Add(61 * time.Second).Unix()}, 401},
		{"no exp", map[string]any{"exp": nil}, 200},
	} {
		resp, body := p.Do(t, c, "GET", "/", bearer(rs.Sign(claims(tc.mod), nil)))
		if resp.StatusCode != tc.code {
			t.Errorf("%s: got %d %q, want %d", tc.name, resp.StatusCode, body, tc.code)
		}
	}
}

// TestAlgorithms: a valid token of every supported algorithm passes, with
// and without a kid.
func TestAlgorithms(t *testing.T) {
	for _, alg := range []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			withKid, noKid := mustKey(t, alg, "a"), mustKey(t, alg, "")
			other := mustKey(t, "ES256", "z")
			p := start(t, config(map[string]*jwtv3.JwtProvider{"p": istioProvider(jwktest.JWKS(other, withKid, noKid), nil)}, allowMissing("p")))
			c := &http.Client{}
			for _, k := range []*jwktest.Key{withKid, noKid} {
				resp, body := p.Do(t, c, "GET", "/", bearer(k.Sign(claims(nil), nil)))
				if resp.StatusCode != 200 {
					t.Errorf("kid %q: got %d %q", k.Kid, resp.StatusCode, body)
				}
				seen := p.Seen.Load()
				if seen == nil || seen.Header.Get("Authorization") != "" {
					t.Errorf("kid %q: the token reached the upstream", k.Kid)
				}
			}
		})
	}
}

// TestLocations: headers with a prefix, query parameters and cookies; the
// defaults; forwarding, payload and claim headers.
func TestLocations(t *testing.T) {
	k := mustKey(t, "ES256", "k")
	tok := k.Sign(claims(map[string]any{"group": "admins", "n": 42, "nested": map[string]any{"team": "blue"}}), nil)
	custom := func(p *jwtv3.JwtProvider) {
		p.FromHeaders = []*jwtv3.JwtHeader{{Name: "x-jwt", ValuePrefix: "Token "}}
		p.FromParams = []string{"jwt"}
		p.FromCookies = []string{"session"}
	}
	cases := []struct {
		name   string
		mod    func(*jwtv3.JwtProvider)
		path   string
		hdr    http.Header
		check  func(h http.Header) string // "" when fine
		status int
	}{
		{name: "default header", path: "/", hdr: bearer(tok), status: 200,
			check: absent("Authorization")},
		{name: "default header, lower-case bearer", path: "/", hdr: http.Header{"Authorization": {"bearer " + tok}}, status: 200},
		{name: "default param", path: "/?access_token=" + tok, status: 200},
		{name: "default param, bad token", path: "/?a=b&access_token=x.y.z", status: 401},
		{name: "custom header with prefix", mod: custom, path: "/", hdr: http.Header{"X-Jwt": {"Token " + tok}}, status: 200,
			check: absent("X-Jwt")},
		{name: "custom header without its prefix is no token", mod: custom, path: "/", hdr: http.Header{"X-Jwt": {tok}}, status: 200},
		{name: "custom param", mod: custom, path: "/?jwt=" + tok, status: 200},
		{name: "custom cookie", mod: custom, path: "/", hdr: http.Header{"Cookie": {"a=b; session=" + tok}}, status: 200},
		{name: "custom cookie, bad token", mod: custom, path: "/", hdr: http.Header{"Cookie": {"session=a.b.c"}}, status: 401},
		{name: "Authorization is not a location when others are set", mod: custom, path: "/", hdr: bearer("garbage"), status: 200},
		{name: "forwardOriginalToken", mod: func(p *jwtv3.JwtProvider) { p.Forward = true }, path: "/", hdr: bearer(tok), status: 200,
			check: equal("Authorization", "Bearer "+tok)},
		{name: "outputPayloadToHeader", mod: func(p *jwtv3.JwtProvider) { p.ForwardPayloadHeader = "x-jwt-payload" }, path: "/", hdr: bearer(tok), status: 200,
			check: equal("X-Jwt-Payload", strings.Split(tok, ".")[1])},
		{name: "outputClaimToHeaders", mod: func(p *jwtv3.JwtProvider) {
			p.ClaimToHeaders = []*jwtv3.JwtClaimToHeader{{HeaderName: "x-group", ClaimName: "group"}, {HeaderName: "x-n", ClaimName: "n"},
				{HeaderName: "x-team", ClaimName: "nested.team"}, {HeaderName: "x-missing", ClaimName: "missing"}}
		}, path: "/", hdr: bearer(tok), status: 200,
			check: all(equal("X-Group", "admins"), equal("X-N", "42"), equal("X-Team", "blue"), absent("X-Missing"))},
		{name: "claim headers need a verified token", mod: func(p *jwtv3.JwtProvider) {
			p.ClaimToHeaders = []*jwtv3.JwtClaimToHeader{{HeaderName: "x-group", ClaimName: "group"}}
		}, path: "/", hdr: http.Header{"X-Group": {"forged"}}, status: 200, check: equal("X-Group", "forged")},
	}
	c := &http.Client{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, config(map[string]*jwtv3.JwtProvider{"p": istioProvider(jwktest.JWKS(k), tc.mod)}, allowMissing("p")))
			resp, body := p.Do(t, c, "GET", tc.path, tc.hdr)
			if resp.StatusCode != tc.status {
				t.Fatalf("got %d %q, want %d", resp.StatusCode, body, tc.status)
			}
			if tc.check != nil {
				if msg := tc.check(p.Seen.Load().Header); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

func absent(name string) func(http.Header) string {
	return func(h http.Header) string {
		if v := h.Get(name); v != "" {
			return name + " reached the upstream: " + v
		}
		return ""
	}
}

func equal(name, want string) func(http.Header) string {
	return func(h http.Header) string {
		if v := h.Get(name); v != want {
			return name + " = " + v + ", want " + want
		}
		return ""
	}
}

func all(fs ...func(http.Header) string) func(http.Header) string {
	return func(h http.Header) string {
		for _, f := range fs {
			if m := f(h); m != "" {
				return m
			}
		}
		return ""
	}
}

// TestIstioMultipleProviders: Istio's requirement for two jwtRules,
// requires_any[p0, p1, requires_all[any(p0, missing), any(p1, missing)]]:
// either issuer's token passes, no token passes, a bad one fails.
func TestIstioMultipleProviders(t *testing.T) {
	k0, k1 := mustKey(t, "RS256", "k0"), mustKey(t, "ES256", "k1")
	p1 := istioProvider(jwktest.JWKS(k1), func(p *jwtv3.JwtProvider) { p.Issuer, p.PayloadInMetadata = "https://other", "https://other" })
	name := func(n string) *jwtv3.JwtRequirement {
		return &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_ProviderName{ProviderName: n}}
	}
	req := &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_RequiresAny{RequiresAny: &jwtv3.JwtRequirementOrList{
		Requirements: []*jwtv3.JwtRequirement{name("origins-0"), name("origins-1"),
			{RequiresType: &jwtv3.JwtRequirement_RequiresAll{RequiresAll: &jwtv3.JwtRequirementAndList{
				Requirements: []*jwtv3.JwtRequirement{allowMissing("origins-0"), allowMissing("origins-1")}}}}}}}}
	p := start(t, config(map[string]*jwtv3.JwtProvider{"origins-0": istioProvider(jwktest.JWKS(k0), nil), "origins-1": p1}, req))
	c := &http.Client{}
	for _, tc := range []struct {
		name string
		hdr  http.Header
		code int
	}{
		{"first issuer", bearer(k0.Sign(claims(nil), nil)), 200},
		{"second issuer", bearer(k1.Sign(claims(map[string]any{"iss": "https://other"}), nil)), 200},
		{"no token", nil, 200},
		{"second issuer's claim, first key", bearer(k0.Sign(claims(map[string]any{"iss": "https://other"}), map[string]any{"kid": "k1"})), 401},
		{"unknown issuer", bearer(k0.Sign(claims(map[string]any{"iss": "https://third"}), nil)), 401},
	} {
		resp, body := p.Do(t, c, "GET", "/", tc.hdr)
		if resp.StatusCode != tc.code {
			t.Errorf("%s: got %d %q, want %d", tc.name, resp.StatusCode, body, tc.code)
		}
	}
}

// TestRulesAndCORS: the first matching rule decides; a path no rule
// matches and a CORS preflight pass without a token check.
func TestRulesAndCORS(t *testing.T) {
	k := mustKey(t, "ES256", "k")
	pb := config(map[string]*jwtv3.JwtProvider{"p": istioProvider(jwktest.JWKS(k), nil)}, nil)
	pb.Rules = []*jwtv3.RequirementRule{
		{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/open"}}},
		{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/api"}},
			RequirementType: &jwtv3.RequirementRule_Requires{Requires: &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_ProviderName{ProviderName: "p"}}}},
	}
	p := start(t, pb)
	c := &http.Client{}
	for _, tc := range []struct {
		method, path string
		hdr          http.Header
		code         int
	}{
		{"GET", "/api/x", nil, 401},
		{"GET", "/api/x", bearer(k.Sign(claims(nil), nil)), 200},
		{"GET", "/open", bearer("bad"), 200},
		{"GET", "/elsewhere", bearer("bad"), 200},
		{"OPTIONS", "/api/x", http.Header{"Origin": {"http://a"}, "Access-Control-Request-Method": {"GET"}}, 200},
		{"OPTIONS", "/api/x", nil, 401},
	} {
		resp, body := p.Do(t, c, tc.method, tc.path, tc.hdr)
		if resp.StatusCode != tc.code {
			t.Errorf("%s %s: got %d %q, want %d", tc.method, tc.path, resp.StatusCode, body, tc.code)
		}
		if tc.code == 401 && tc.hdr == nil && body != "Jwt is missing" {
			t.Errorf("%s %s: body %q, want Jwt is missing", tc.method, tc.path, body)
		}
	}
}

// TestCompileErrors: what the proxy does not implement is refused.
func TestCompileErrors(t *testing.T) {
	k := mustKey(t, "ES256", "k")
	for _, tc := range []struct {
		name string
		mod  func(*jwtv3.JwtAuthentication)
		want string
	}{
		{"remote jwks", func(a *jwtv3.JwtAuthentication) {
			a.Providers["p"].JwksSourceSpecifier = &jwtv3.JwtProvider_RemoteJwks{RemoteJwks: &jwtv3.RemoteJwks{}}
		}, "remote_jwks is not supported"},
		{"bad jwks", func(a *jwtv3.JwtAuthentication) {
			a.Providers["p"].JwksSourceSpecifier = &jwtv3.JwtProvider_LocalJwks{LocalJwks: &corev3.DataSource{
				Specifier: &corev3.DataSource_InlineString{InlineString: `{"keys": [`}}}
		}, "invalid JSON"},
		{"unknown provider", func(a *jwtv3.JwtAuthentication) {
			a.Rules[0].RequirementType = &jwtv3.RequirementRule_Requires{Requires: &jwtv3.JwtRequirement{
				RequiresType: &jwtv3.JwtRequirement_ProviderName{ProviderName: "nope"}}}
		}, `unknown provider "nope"`},
		{"header match", func(a *jwtv3.JwtAuthentication) {
			a.Rules[0].Match.Headers = []*routev3.HeaderMatcher{{Name: "x"}}
		}, "only prefix and path matches"},
		{"requirement map", func(a *jwtv3.JwtAuthentication) {
			a.RequirementMap = map[string]*jwtv3.JwtRequirement{"r": allowMissing("p")}
		}, "requirement_map is not supported"},
	} {
		pb := config(map[string]*jwtv3.JwtProvider{"p": istioProvider(jwktest.JWKS(k), nil)}, allowMissing("p"))
		tc.mod(pb)
		if _, err := jwtauthn.Compile(pb); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestCache: a token verified once is taken from the cache, but its time
// is checked at every request, and a new config (rotated keys) starts
// with an empty cache.
func TestCache(t *testing.T) {
	k := mustKey(t, "ES256", "k")
	other := mustKey(t, "ES256", "other")
	var clock atomic.Int64
	clock.Store(now.Unix())
	proxy := func(keys string) *filtertest.Proxy {
		c, err := jwtauthn.Compile(config(map[string]*jwtv3.JwtProvider{"p": istioProvider(keys, nil)}, allowMissing("p")))
		if err != nil {
			t.Fatal(err)
		}
		f := jwtauthn.New(c, func() time.Time { return time.Unix(clock.Load(), 0) })
		return filtertest.Start(t, []hcm.Filter{f}, router.VirtualHostConfig{Routes: []router.RouteConfig{{Name: "all",
			Match: router.Match{PathKind: router.PathPrefix, Path: "/"}, Action: router.Action{Cluster: "up"}}}})
	}
	tok := k.Sign(claims(map[string]any{"exp": now.Add(time.Minute).Unix()}), nil)
	// accepted sends the token 8 times at once (for the race detector)
	// and counts the 200s.
	accepted := func(p *filtertest.Proxy) int64 {
		var wg sync.WaitGroup
		var n atomic.Int64
		c := &http.Client{}
		for range 8 {
			wg.Go(func() {
				req, _ := http.NewRequest("GET", p.URL+"/", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					n.Add(1)
				}
			})
		}
		wg.Wait()
		return n.Load()
	}
	p := proxy(jwktest.JWKS(k))
	if n := accepted(p); n != 8 {
		t.Errorf("first round: %d of 8 accepted", n)
	}
	if n := accepted(p); n != 8 {
		t.Errorf("cached round: %d of 8 accepted", n)
	}
	clock.Store(now.Add(2 * time.Minute).Unix())
	if n := accepted(p); n != 0 {
		t.Errorf("expired cached token: %d of 8 accepted", n)
	}
	clock.Store(now.Unix())
	if n := accepted(proxy(jwktest.JWKS(other))); n != 0 {
		t.Errorf("after rotation: %d of 8 accepted", n)
	}
}

// BenchmarkVerify: a request without a token costs the filter nothing
// beyond the header lookups; a valid token, its verification or a cache
// hit.
func BenchmarkVerify(b *testing.B) {
	k := mustKey(b, "ES256", "k")
	run := func(b *testing.B, toks []string) {
		c, err := jwtauthn.Compile(config(map[string]*jwtv3.JwtProvider{"p": istioProvider(jwktest.JWKS(k), func(p *jwtv3.JwtProvider) {
			p.PayloadInMetadata = "" // a bare Exchange has no metadata
			p.Forward = true
		})}, allowMissing("p")))
		if err != nil {
			b.Fatal(err)
		}
		f := jwtauthn.New(c, time.Now)
		r, _ := http.NewRequest("GET", "http://a/productpage?x=1", nil)
		x := &hcm.Exchange{Request: r}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if len(toks) > 0 {
				r.Header["Authorization"] = []string{"Bearer " + toks[i%len(toks)]}
				i++
			}
			if !f.OnRequest(x) {
				b.Fatal("rejected")
			}
		}
	}
	sign := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = k.Sign(claims(map[string]any{"exp": time.Now().Add(time.Hour).Unix(), "nbf": nil, "jti": i}), nil)
		}
		return out
	}
	b.Run("none", func(b *testing.B) { run(b, nil) })
	b.Run("cached", func(b *testing.B) { run(b, sign(1)) })
	b.Run("uncached", func(b *testing.B) { run(b, sign(1000)) })
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}
