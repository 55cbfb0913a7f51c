package ca

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	tokens, err := NewTokens(clock)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokens.Mint("default", "reviews", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ns, sa, err := tokens.Authenticate(tok)
	if err != nil || ns != "default" || sa != "reviews" {
		t.Fatalf("Authenticate = %q, %q, %v", ns, sa, err)
	}
	other, _ := NewTokens(clock)
	mid := len(tok) - 10 // inside the MAC
	flip := "A"
	if tok[mid] == 'A' {
		flip = "B"
	}
	for _, tc := range []struct{ name, token, want string }{
		{"other mesh", mustMint(t, other, "default", "reviews"), "signature does not match"},
		{"tampered", tok[:mid] + flip + tok[mid+1:], "signature does not match"},
		{"payload changed", strings.Replace(tok, "hbt1.", "hbt1.A", 1), ""},
		{"not ours", "eyJhbGciOiJSUzI1NiJ9.e30.sig", "not a Halyard bootstrap token"},
		{"malformed", "hbt1.%%%", "malformed"},
	} {
		if _, _, err := tokens.Authenticate(tc.token); !errors.Is(err, ErrBadToken) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	now = now.Add(time.Hour)
	if _, _, err := tokens.Authenticate(tok); err == nil || !strings.Contains(err.Error(), "expired 0s ago") {
		t.Errorf("expired: got %v", err)
	}
	if _, err := tokens.Mint("", "sa", time.Hour); err == nil {
		t.Error("a token with an empty namespace was minted")
	}
}

func mustMint(t *testing.T, tokens *Tokens, ns, sa string) string {
	tok, err := tokens.Mint(ns, sa, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
