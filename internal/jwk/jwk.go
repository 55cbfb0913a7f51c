// Package jwk parses JSON Web Key Sets (RFC 7517) into public keys: RSA
// (kty RSA: n, e), elliptic-curve (kty EC: P-256, P-384, P-521) and
// Ed25519 (kty OKP). It uses only the standard library, so both the
// control plane (which validates RequestAuthentication jwks) and the
// sidecar (which verifies tokens with the keys) can import it without
// growing the proxy's dependencies. Symmetric keys (kty oct) and keys of
// other types are skipped; a set with no usable key is an error.
package jwk

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Key is one public key of a set.
type Key struct {
	Kid string // "" when the JWK has none
	Alg string // the JWK's alg, "" when absent
	Kty string // RSA, EC or OKP
	Crv string // the curve of EC and OKP keys
	// Public is *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
	Public crypto.PublicKey
}

// raw is a JWK as it appears in JSON.
type raw struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// MaxSetSize bounds the JSON of one key set.
const MaxSetSize = 1 << 20

// ParseSet parses a JWKS document ({"keys": [...]}) or a single JWK. Keys
// of an unsupported type or with "use" other than "sig" are skipped; a
// malformed supported key is an error.
func ParseSet(data []byte) ([]Key, error) {
	if len(data) > MaxSetSize {
		return nil, fmt.Errorf("jwk: key set of %d bytes is over %d", len(data), MaxSetSize)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&set); err != nil {
		return nil, fmt.Errorf("jwk: invalid JSON: %w", err)
	}
	if set.Keys == nil {
		// A single JWK.
		set.Keys = []json.RawMessage{data}
	}
	var out []Key
	for i, m := range set.Keys {
		var r raw
		if err := json.Unmarshal(m, &r); err != nil {
			return nil, fmt.Errorf("jwk: key %d: invalid JSON: %w", i, err)
		}
		if r.Use != "" && r.Use != "sig" {
			continue
		}
		k, err := parseKey(&r)
		if err != nil {
			return nil, fmt.Errorf("jwk: key %d (kid %q): %w", i, r.Kid, err)
		}
		if k != nil {
			out = append(out, *k)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("jwk: no usable key (RSA, EC or OKP Ed25519) in the set")
	}
	return out, nil
}

func parseKey(r *raw) (*Key, error) {
	k := &Key{Kid: r.Kid, Alg: r.Alg, Kty: r.Kty, Crv: r.Crv}
	var err error
	switch r.Kty {
	case "RSA":
		k.Public, err = rsaKey(r)
	case "EC":
		k.Public, err = ecKey(r)
	case "OKP":
		if r.Crv != "Ed25519" {
			return nil, nil
		}
		k.Public, err = edKey(r)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// b64 decodes base64url, with or without padding.
func b64(field, s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("%s is missing", field)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("%s is not base64url: %w", field, err)
	}
	return b, nil
}

func rsaKey(r *raw) (*rsa.PublicKey, error) {
	n, err := b64("n", r.N)
	if err != nil {
		return nil, err
	}
	e, err := b64("e", r.E)
	if err != nil {
		return nil, err
	}
	if len(e) > 4 {
		return nil, errors.New("e is too large")
	}
	var exp int
	for _, c := range e {
		exp = exp<<8 | int(c)
	}
	mod := new(big.Int).SetBytes(n)
	if mod.BitLen() < 1024 {
		return nil, fmt.Errorf("RSA modulus of %d bits is under 1024", mod.BitLen())
	}
	if exp < 3 || exp%2 == 0 {
		return nil, fmt.Errorf("RSA exponent %d is invalid", exp)
	}
	return &rsa.PublicKey{N: mod, E: exp}, nil
}

func ecKey(r *raw) (*ecdsa.PublicKey, error) {
	var c elliptic.Curve
	switch r.Crv {
	case "P-256":
		c = elliptic.P256()
	case "P-384":
		c = elliptic.P384()
	case "P-521":
		c = elliptic.P521()
	default:
		return nil, fmt.Errorf("unsupported EC curve %q", r.Crv)
	}
	x, err := b64("x", r.X)
	if err != nil {
		return nil, err
	}
	y, err := b64("y", r.Y)
	if err != nil {
		return nil, err
	}
	size := (c.Params().BitSize + 7) / 8
	if len(x) > size || len(y) > size {
		return nil, errors.New("EC coordinates are too long for the curve")
	}
	pt := make([]byte, 1+2*size)
	pt[0] = 4
	copy(pt[1+size-len(x):], x)
	copy(pt[1+2*size-len(y):], y)
	k, err := ecdsa.ParseUncompressedPublicKey(c, pt)
	if err != nil {
		return nil, fmt.Errorf("EC point: %w", err)
	}
	return k, nil
}

func edKey(r *raw) (ed25519.PublicKey, error) {
	x, err := b64("x", r.X)
	if err != nil {
		return nil, err
	}
	if len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("Ed25519 key of %d bytes, want %d", len(x), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(x), nil
}
