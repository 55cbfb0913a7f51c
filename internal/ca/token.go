package ca

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Tokens mints and checks the bootstrap tokens of local mode: a short-lived
// token bound to one namespace and service account, which a sidecar shows
// (authorization: Bearer) to prove the identity it asks a certificate for.
// They play the part of Kubernetes' projected service-account tokens.
//
// A token is "hbt1.<payload>.<mac>": payload is base64url of
// "<namespace>\x00<service-account>\x00<expiry unix seconds>", mac is
// base64url of its HMAC-SHA256 under a key that lives only in memory of the
// process that runs the CA, so tokens die with it.
type Tokens struct {
	key []byte
	now func() time.Time
}

const tokenPrefix = "hbt1."

// ErrBadToken wraps every reason a token is refused.
var ErrBadToken = errors.New("bad bootstrap token")

// NewTokens returns a token authority with a fresh random key; now is the
// clock (time.Now when nil).
func NewTokens(now func() time.Time) (*Tokens, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("ca: token key: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{key: key, now: now}, nil
}

// Mint returns a token for namespace/serviceAccount valid for ttl.
func (t *Tokens) Mint(namespace, serviceAccount string, ttl time.Duration) (string, error) {
	if namespace == "" || serviceAccount == "" || strings.ContainsRune(namespace+serviceAccount, 0) {
		return "", fmt.Errorf("ca: mint token: bad namespace %q or service account %q", namespace, serviceAccount)
	}
	exp := t.now().Add(ttl).Unix()
	payload := []byte(namespace + "\x00" + serviceAccount + "\x00" + strconv.FormatInt(exp, 10))
	enc := base64.RawURLEncoding
	return tokenPrefix + enc.EncodeToString(payload) + "." + enc.EncodeToString(t.mac(payload)), nil
}

func (t *Tokens) mac(payload []byte) []byte {
	h := hmac.New(sha256.New, t.key)
	h.Write(payload)
	return h.Sum(nil)
}

// Authenticate checks a token and returns the identity it is bound to.
func (t *Tokens) Authenticate(token string) (namespace, serviceAccount string, err error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return "", "", fmt.Errorf("ca: %w: not a Halyard bootstrap token", ErrBadToken)
	}
	p64, m64, ok := strings.Cut(rest, ".")
	enc := base64.RawURLEncoding.Strict() // one encoding per token: no ignored padding bits
	payload, err1 := enc.DecodeString(p64)
	mac, err2 := enc.DecodeString(m64)
	if !ok || err1 != nil || err2 != nil {
		return "", "", fmt.Errorf("ca: %w: malformed", ErrBadToken)
	}
	if !hmac.Equal(mac, t.mac(payload)) {
		return "", "", fmt.Errorf("ca: %w: signature does not match (minted by another mesh?)", ErrBadToken)
	}
	parts := bytes.Split(payload, []byte{0})
	if len(parts) != 3 {
		return "", "", fmt.Errorf("ca: %w: malformed payload", ErrBadToken)
	}
	exp, err := strconv.ParseInt(string(parts[2]), 10, 64)
	if err != nil {
		return "", "", fmt.Errorf("ca: %w: malformed expiry", ErrBadToken)
	}
	if now := t.now(); now.Unix() >= exp {
		return "", "", fmt.Errorf("ca: %w: expired %s ago", ErrBadToken, now.Sub(time.Unix(exp, 0)).Round(time.Second))
	}
	return string(parts[0]), string(parts[1]), nil
}
