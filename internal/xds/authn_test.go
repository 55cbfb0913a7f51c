package xds

import (
	"errors"
	"testing"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	jwtauthn "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"

	"github.com/halyard-mesh/halyard/internal/jwk"
)

// testJWKS is the golden tests' fetcher: it has the keys of
// https://fetched.example/jwks.json and fails every other URI.
type testJWKS struct{}

const fetchedJWKS = `{"keys":[{"alg":"EdDSA","crv":"Ed25519","kid":"fetched","kty":"OKP","use":"sig","x":"pl9PAwzhCLX_jtEHl8lHVFFn0mBGeqNFbOpPSFG9KIE"}]}`

func (testJWKS) JWKS(uri string) (string, error) {
	if uri == "https://fetched.example/jwks.json" {
		return fetchedJWKS, nil
	}
	return "", errors.New("unreachable")
}

// TestFakeJWKS: the key set of an unreachable jwksUri parses, so the
// proxy accepts the config and every token of that issuer fails.
func TestFakeJWKS(t *testing.T) {
	keys, err := jwk.ParseSet([]byte(FakeJWKS))
	if err != nil || len(keys) != 1 || keys[0].Kty != "RSA" {
		t.Fatalf("FakeJWKS: %v %v", keys, err)
	}
}

// TestRequestAuthnProviders checks the providers' keys in the golden
// case: fetched, fake, inline.
func TestRequestAuthnProviders(t *testing.T) {
	res := generateCase(t, "testdata/request-authentication")
	var cfg *jwtauthn.JwtAuthentication
	for _, l := range res[resource.ListenerType] {
		for _, f := range httpFiltersOf(t, l) {
			if f.GetName() == JWTAuthnFilter && cfg == nil {
				cfg = &jwtauthn.JwtAuthentication{}
				if err := f.GetTypedConfig().UnmarshalTo(cfg); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if cfg == nil {
		t.Fatal("no jwt_authn filter")
	}
	want := map[string]struct{ issuer, keys string }{
		"origins-0": {"https://fetched.example", fetchedJWKS},
		"origins-1": {"https://down.example", FakeJWKS},
		"origins-2": {"ns-issuer", ""},
		"origins-3": {"https://fetched.example", fetchedJWKS},
	}
	if len(cfg.GetProviders()) != len(want) {
		t.Fatalf("%d providers, want %d", len(cfg.GetProviders()), len(want))
	}
	for name, w := range want {
		p := cfg.GetProviders()[name]
		if p.GetIssuer() != w.issuer {
			t.Errorf("%s: issuer %q, want %q", name, p.GetIssuer(), w.issuer)
		}
		if got := p.GetLocalJwks().GetInlineString(); w.keys != "" && got != w.keys {
			t.Errorf("%s: keys %q, want %q", name, got, w.keys)
		}
	}
}

// httpFiltersOf returns the HTTP filters of every HCM of a listener.
func httpFiltersOf(t *testing.T, r types.Resource) []*hcm.HttpFilter {
	t.Helper()
	l, ok := r.(*listener.Listener)
	if !ok {
		t.Fatalf("%T is not a listener", r)
	}
	var out []*hcm.HttpFilter
	for _, fc := range l.GetFilterChains() {
		for _, f := range fc.GetFilters() {
			if f.GetName() != wellknown.HTTPConnectionManager {
				continue
			}
			m := &hcm.HttpConnectionManager{}
			if err := f.GetTypedConfig().UnmarshalTo(m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m.GetHttpFilters()...)
		}
	}
	return out
}
