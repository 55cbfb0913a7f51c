// Package jwktest makes signing keys, JWKS documents and signed JWTs for
// tests. Only tests import it.
package jwktest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// Key is a private signing key with its JWS algorithm and kid.
type Key struct {
	Alg     string
	Kid     string
	Private crypto.Signer
}

// NewKey generates a key for alg (RS256/384/512, PS256/384/512,
// ES256/384/512, EdDSA).
func NewKey(alg, kid string) (*Key, error) {
	var k crypto.Signer
	var err error
	switch alg[:2] {
	case "RS", "PS":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES":
		c := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		if c == nil {
			return nil, fmt.Errorf("jwktest: unknown alg %q", alg)
		}
		k, err = ecdsa.GenerateKey(c, rand.Reader)
	case "Ed":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("jwktest: unknown alg %q", alg)
	}
	if err != nil {
		return nil, err
	}
	return &Key{Alg: alg, Kid: kid, Private: k}, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// JWK returns the public key as a JWK object.
func (k *Key) JWK() map[string]any {
	m := map[string]any{"kid": k.Kid, "alg": k.Alg, "use": "sig"}
	if k.Kid == "" {
		delete(m, "kid")
	}
	switch p := k.Private.Public().(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64(p.N.Bytes()), b64(big.NewInt(int64(p.E)).Bytes())
	case *ecdsa.PublicKey:
		size := (p.Curve.Params().BitSize + 7) / 8
		b, _ := p.Bytes()
		m["kty"], m["crv"] = "EC", p.Curve.Params().Name
		m["x"], m["y"] = b64(b[1:1+size]), b64(b[1+size:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64(p)
	}
	return m
}

// JWKS renders keys as a JWKS document.
func JWKS(keys ...*Key) string {
	var list []map[string]any
	for _, k := range keys {
		list = append(list, k.JWK())
	}
	b, _ := json.Marshal(map[string]any{"keys": list})
	return string(b)
}

// Sign returns a compact JWS of claims with the key, its alg and kid in
// the header (extra header fields override them).
func (k *Key) Sign(claims map[string]any, header map[string]any) string {
	h := map[string]any{"alg": k.Alg, "typ": "JWT"}
	if k.Kid != "" {
		h["kid"] = k.Kid
	}
	for n, v := range header {
		h[n] = v
	}
	hb, _ := json.Marshal(h)
	pb, _ := json.Marshal(claims)
	input := b64(hb) + "." + b64(pb)
	return input + "." + b64(k.SignBytes([]byte(input)))
}

// SignBytes signs input with the key's algorithm.
func (k *Key) SignBytes(input []byte) []byte {
	if k.Alg == "EdDSA" {
		s, _ := k.Private.Sign(rand.Reader, input, crypto.Hash(0))
		return s
	}
	var h crypto.Hash
	switch {
	case strings.HasSuffix(k.Alg, "256"):
		h = crypto.SHA256
	case strings.HasSuffix(k.Alg, "384"):
		h = crypto.SHA384
	default:
		h = crypto.SHA512
	}
	var digest []byte
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(input)
		digest = d[:]
	case crypto.SHA384:
		d := sha512.Sum384(input)
		digest = d[:]
	default:
		d := sha512.Sum512(input)
		digest = d[:]
	}
	switch p := k.Private.(type) {
	case *rsa.PrivateKey:
		if k.Alg[0] == 'P' {
			s, _ := rsa.SignPSS(rand.Reader, p, h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			return s
		}
		s, _ := rsa.SignPKCS1v15(rand.Reader, p, h, digest)
		return s
	case *ecdsa.PrivateKey:
		r, s, _ := ecdsa.Sign(rand.Reader, p, digest)
		size := (p.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out
	}
	return nil
}
