package jwk_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"strings"
	"testing"

	"github.com/halyard-mesh/halyard/internal/jwk"
	"github.com/halyard-mesh/halyard/internal/jwk/jwktest"
)

func TestParseSet(t *testing.T) {
	var set []string
	for _, alg := range []string{"RS256", "ES256", "ES384", "ES512", "EdDSA"} {
		k, err := jwktest.NewKey(alg, alg)
		if err != nil {
			t.Fatal(err)
		}
		set = append(set, strings.TrimSuffix(strings.TrimPrefix(jwktest.JWKS(k), `{"keys":[`), `]}`))
	}
	// A symmetric key and an encryption key are skipped.
	set = append(set, `{"kty":"oct","k":"c2VjcmV0"}`, strings.Replace(set[0], `"use":"sig"`, `"use":"enc"`, 1))
	keys, err := jwk.ParseSet([]byte(`{"keys":[` + strings.Join(set, ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 5 {
		t.Fatalf("%d keys, want 5", len(keys))
	}
	want := []struct{ kid, crv string }{{"RS256", ""}, {"ES256", "P-256"}, {"ES384", "P-384"}, {"ES512", "P-521"}, {"EdDSA", "Ed25519"}}
	for i, k := range keys {
		if k.Kid != want[i].kid || k.Crv != want[i].crv || k.Alg != want[i].kid {
			t.Errorf("key %d: kid %q crv %q alg %q, want %+v", i, k.Kid, k.Crv, k.Alg, want[i])
		}
		switch k.Public.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			t.Errorf("key %d: %T", i, k.Public)
		}
	}
	// A single JWK, with padded base64.
	one, err := jwk.ParseSet([]byte(strings.Replace(set[4], `"}`, `="}`, 1)))
	if err != nil || len(one) != 1 {
		t.Errorf("single JWK: %v %v", one, err)
	}
}

func TestParseSetErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"keys": [`, "jwk: invalid JSON"},
		{`{"keys": []}`, "no usable key"},
		{`{"keys": [{"kty": "oct", "k": "AA"}]}`, "no usable key"},
		{`{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}`, "RSA modulus of 17 bits is under 1024"},
		{`{"keys": [{"kty": "RSA", "e": "AQAB"}]}`, "n is missing"},
		{`{"keys": [{"kty": "RSA", "n": "!!", "e": "AQAB"}]}`, "n is not base64url"},
		{`{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}`, "point not on curve"},
		{`{"keys": [{"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}]}`, `unsupported EC curve "secp256k1"`},
		{`{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}]}`, "Ed25519 key of 3 bytes, want 32"},
		{`{"keys": [7]}`, "key 0: invalid JSON"},
		{`{"keys": [{"kty": "RSA"}]` + strings.Repeat(" ", jwk.MaxSetSize) + `}`, "over"},
	} {
		if _, err := jwk.ParseSet([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.60s: got %v, want %q", tc.in, err, tc.want)
		}
	}
}
