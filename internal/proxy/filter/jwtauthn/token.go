package jwtauthn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"
	"math"
	"math/big"
	"strings"
	"time"

	"github.com/halyard-mesh/halyard/internal/jwk"
)

// MaxTokenSize bounds a token's length: a longer one fails as
// JwtBadFormat before any decoding. Envoy bounds tokens only by its header
// limits (60 KiB of headers) and caches tokens up to 4 KiB; 16 KiB leaves
// room for large claim sets while keeping a forged token's decoding cheap.
const MaxTokenSize = 16 << 10

// Status is the outcome of one token's verification, with Envoy's
// jwt_verify_lib texts (the body of the 401).
type Status uint8

// Statuses. OK and Missing are not failures.
const (
	OK Status = iota
	Missing
	BadFormat
	HeaderBadBase64
	HeaderBadJSON
	HeaderBadAlg
	HeaderAlgNotImplemented
	HeaderBadKid
	PayloadBadBase64
	PayloadBadJSON
	IssNotString
	SubNotString
	AudNotString
	TimeNotNumber
	SignatureBadBase64
	UnknownIssuer
	AudienceNotAllowed
	Expired
	NotYetValid
	NoExpiration
	KidAlgMismatch
	VerificationFails
)

var statusText = [...]string{
	OK:                      "Jwt verification succeeded",
	Missing:                 "Jwt is missing",
	BadFormat:               "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
	HeaderBadBase64:         "Jwt header is an invalid Base64url encoded",
	HeaderBadJSON:           "Jwt header is an invalid JSON",
	HeaderBadAlg:            "Jwt header [alg] field is required and must be a string",
	HeaderAlgNotImplemented: "Jwt header [alg] is not supported",
	HeaderBadKid:            "Jwt header [kid] field is not a string",
	PayloadBadBase64:        "Jwt payload is an invalid Base64url encoded",
	PayloadBadJSON:          "Jwt payload is an invalid JSON",
	IssNotString:            "Jwt payload [iss] field is not a string",
	SubNotString:            "Jwt payload [sub] field is not a string",
	AudNotString:            "Jwt payload [aud] field is not a string or string list",
	TimeNotNumber:           "Jwt payload [exp], [nbf] or [iat] field is not a positive 64 bit integer",
	SignatureBadBase64:      "Jwt signature is an invalid Base64url encoded",
	UnknownIssuer:           "Jwt issuer is not configured",
	AudienceNotAllowed:      "Audiences in Jwt are not allowed",
	Expired:                 "Jwt is expired",
	NotYetValid:             "Jwt not yet valid",
	NoExpiration:            "Jwt doesn't have an expiration time",
	KidAlgMismatch:          "Jwks doesn't have key to match kid or alg from Jwt",
	VerificationFails:       "Jwt verification fails",
}

func (s Status) String() string {
	if int(s) < len(statusText) {
		return statusText[s]
	}
	return "Jwt verification fails"
}

// token is a parsed, not yet verified JWT.
type token struct {
	alg, kid     string
	signingInput string // header.payload
	payloadB64   string
	sig          []byte
	claims       map[string]any
	iss, sub     string
	aud          []string
	exp, nbf     int64 // 0 when absent
}

// parse splits and decodes a compact JWS, checking the shape of the
// claims Envoy checks.
func parse(raw string) (*token, Status) {
	if len(raw) > MaxTokenSize || strings.Count(raw, ".") != 2 {
		return nil, BadFormat
	}
	h, rest, _ := strings.Cut(raw, ".")
	p, s, _ := strings.Cut(rest, ".")
	t := &token{signingInput: raw[:len(h)+1+len(p)], payloadB64: p}
	hb, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil || h == "" {
		return nil, HeaderBadBase64
	}
	var hdr map[string]any
	if err := json.Unmarshal(hb, &hdr); err != nil || hdr == nil {
		return nil, HeaderBadJSON
	}
	alg, ok := hdr["alg"].(string)
	if !ok {
		return nil, HeaderBadAlg
	}
	if hashOf(alg) == 0 && alg != "EdDSA" {
		return nil, HeaderAlgNotImplemented
	}
	t.alg = alg
	if k, present := hdr["kid"]; present {
		if t.kid, ok = k.(string); !ok {
			return nil, HeaderBadKid
		}
	}
	pb, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || p == "" {
		return nil, PayloadBadBase64
	}
	if err := json.Unmarshal(pb, &t.claims); err != nil || t.claims == nil {
		return nil, PayloadBadJSON
	}
	if st := t.readClaims(); st != OK {
		return nil, st
	}
	if t.sig, err = base64.RawURLEncoding.DecodeString(s); err != nil || s == "" {
		return nil, SignatureBadBase64
	}
	return t, OK
}

func (t *token) readClaims() Status {
	var ok bool
	if v, present := t.claims["iss"]; present {
		if t.iss, ok = v.(string); !ok {
			return IssNotString
		}
	}
	if v, present := t.claims["sub"]; present {
		if t.sub, ok = v.(string); !ok {
			return SubNotString
		}
	}
	switch v := t.claims["aud"].(type) {
	case nil:
	case string:
		t.aud = []string{v}
	case []any:
		for _, a := range v {
			s, ok := a.(string)
			if !ok {
				return AudNotString
			}
			t.aud = append(t.aud, s)
		}
	default:
		return AudNotString
	}
	var st Status
	if t.exp, st = timeClaim(t.claims, "exp"); st != OK {
		return st
	}
	if t.nbf, st = timeClaim(t.claims, "nbf"); st != OK {
		return st
	}
	_, st = timeClaim(t.claims, "iat")
	return st
}

func timeClaim(c map[string]any, name string) (int64, Status) {
	v, present := c[name]
	if !present {
		return 0, OK
	}
	f, ok := v.(float64)
	if !ok || f < 0 || f > math.MaxInt64/2 {
		return 0, TimeNotNumber
	}
	return int64(f), OK
}

// checkTime applies exp and nbf with the clock skew, as Envoy: a token is
// valid from nbf-skew until exp+skew.
func (t *token) checkTime(now time.Time, skew time.Duration, requireExp bool) Status {
	sec := now.Unix()
	sk := int64(skew / time.Second)
	switch {
	case t.nbf != 0 && sec+sk < t.nbf:
		return NotYetValid
	case t.exp != 0 && sec-sk >= t.exp:
		return Expired
	case t.exp == 0 && requireExp:
		return NoExpiration
	}
	return OK
}

// audienceAllowed reports whether one of the token's audiences is allowed
// (any when allowed is empty); both sides are compared without an
// http(s):// scheme and a trailing slash, as Envoy does.
func (t *token) audienceAllowed(allowed []string) bool {
	if len(allowed) == 0 {
		return true
	}
	for _, a := range t.aud {
		a = sanitizeAudience(a)
		for _, b := range allowed {
			if a == b {
				return true
			}
		}
	}
	return false
}

func sanitizeAudience(a string) string {
	a = strings.TrimPrefix(strings.TrimPrefix(a, "http://"), "https://")
	return strings.TrimSuffix(a, "/")
}

// verify checks the signature with the provider's keys: the keys with the
// token's kid when it has one (none: KidAlgMismatch), else every key of
// the algorithm's type.
func (t *token) verify(keys []jwk.Key) Status {
	tried := false
	for i := range keys {
		k := &keys[i]
		if (t.kid != "" && k.Kid != t.kid) || (k.Alg != "" && k.Alg != t.alg) || !keyFits(t.alg, k) {
			continue
		}
		tried = true
		if verifySig(t.alg, k.Public, t.signingInput, t.sig) {
			return OK
		}
	}
	if !tried {
		return KidAlgMismatch
	}
	return VerificationFails
}

// hashOf is the digest of a supported algorithm other than EdDSA; 0 for
// an unsupported one (none, HS*, ...).
func hashOf(alg string) crypto.Hash {
	switch alg {
	case "RS256", "PS256", "ES256":
		return crypto.SHA256
	case "RS384", "PS384", "ES384":
		return crypto.SHA384
	case "RS512", "PS512", "ES512":
		return crypto.SHA512
	}
	return 0
}

// keyFits reports whether a key is of the algorithm's type and curve.
func keyFits(alg string, k *jwk.Key) bool {
	switch alg[0] {
	case 'R', 'P':
		return k.Kty == "RSA"
	case 'E':
		switch alg {
		case "ES256":
			return k.Crv == "P-256"
		case "ES384":
			return k.Crv == "P-384"
		case "ES512":
			return k.Crv == "P-521"
		case "EdDSA":
			return k.Kty == "OKP"
		}
	}
	return false
}

func verifySig(alg string, pub crypto.PublicKey, input string, sig []byte) bool {
	if alg == "EdDSA" {
		k, ok := pub.(ed25519.PublicKey)
		return ok && ed25519.Verify(k, []byte(input), sig)
	}
	h := hashOf(alg)
	var hh hash.Hash
	switch h {
	case crypto.SHA256:
		hh = sha256.New()
	case crypto.SHA384:
		hh = sha512.New384()
	default:
		hh = sha512.New()
	}
	hh.Write([]byte(input))
	digest := hh.Sum(nil)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if alg[0] == 'P' {
			return rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}
		return rsa.VerifyPKCS1v15(k, h, digest, sig) == nil
	case *ecdsa.PublicKey:
		// JWS ECDSA signatures are r||s, each the curve's byte size.
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, digest, r, s)
	}
	return false
}
