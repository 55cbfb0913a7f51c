package controlplane

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/ca"
	"github.com/halyard-mesh/halyard/internal/proxy/identity"
)

// TestCAEndpoint: a control plane with a CA serves CSRs over TLS on its own
// port, and reports and counts every certificate issued.
func TestCAEndpoint(t *testing.T) {
	dir := t.TempDir()
	auth, err := ca.LoadOrCreate(filepath.Join(dir, "ca"), ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := ca.NewTokens(nil)
	if err != nil {
		t.Fatal(err)
	}
	issued := make(chan string, 1)
	s := New(Options{XDSAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0", CA: &CAOptions{
		Address: "127.0.0.1:0", Authority: auth, Auth: tokens, OnIssued: func(id string) { issued <- id },
	}})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	if s.CAAddress() == "" || s.CAAddress() == s.XDSAddress() {
		t.Fatalf("CA address %q (xds %q)", s.CAAddress(), s.XDSAddress())
	}

	tok, _ := tokens.Mint("default", "reviews", time.Hour)
	tokenFile, rootFile := filepath.Join(dir, "token"), filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(tokenFile, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rootFile, auth.RootsPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	bundle := identity.FileBundle(rootFile)
	m := identity.New(identity.Options{
		ID:     "spiffe://cluster.local/ns/default/sa/reviews",
		Signer: identity.NewCAClient(identity.CAClientOptions{Address: s.CAAddress(), TokenFile: tokenFile, Roots: identity.PoolFrom(bundle)}),
		Bundle: bundle,
	})
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-issued:
		if id != "spiffe://cluster.local/ns/default/sa/reviews" {
			t.Errorf("OnIssued(%q)", id)
		}
	default:
		t.Error("OnIssued was not called")
	}
	if got := scrape(t, s)["citadel_server_success_cert_issuance_count"]; got != 1 {
		t.Errorf("certificates issued metric = %v, want 1", got)
	}
}
