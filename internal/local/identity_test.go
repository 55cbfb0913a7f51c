package local

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTokenFileMintedAndRefreshed(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	minted := 0
	r := &Runner{log: slog.New(slog.DiscardHandler), opts: Options{
		StateDir: t.TempDir(), Now: func() time.Time { return now },
		Identity: &SidecarIdentity{
			CAAddress: "127.0.0.1:1", RootFile: "/bundle.pem", TrustDomain: "cluster.local", TokenRefresh: 30 * time.Minute,
			MintToken: func(ns, sa string) (string, error) { minted++; return fmt.Sprintf("%s/%s/%d", ns, sa, minted), nil },
		},
	}}
	p := &pod{spec: podSpec{Name: "reviews-v1-0", Namespace: "default", ServiceAccount: "bookinfo-reviews"}}
	if err := r.writeToken(p); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(r.opts.StateDir, "pods", "default.reviews-v1-0", "token")
	read := func() string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read(); got != "default/bookinfo-reviews/1" {
		t.Fatalf("token %q", got)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{path, 0o600}, {filepath.Dir(path), 0o700}} {
		st, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != f.mode {
			t.Errorf("%s: mode %o, want %o", f.path, st.Mode().Perm(), f.mode)
		}
	}
	now = now.Add(29 * time.Minute)
	r.identityTick(p)
	if got := read(); got != "default/bookinfo-reviews/1" {
		t.Errorf("refreshed before TokenRefresh: %q", got)
	}
	now = now.Add(time.Minute)
	r.identityTick(p)
	if got := read(); got != "default/bookinfo-reviews/2" {
		t.Errorf("not refreshed after TokenRefresh: %q", got)
	}
	args := r.sidecarIdentityArgs(p)
	want := []string{"--ca-address", "127.0.0.1:1", "--ca-root-file", "/bundle.pem", "--token-file", path, "--trust-domain", "cluster.local"}
	if fmt.Sprint(args) != fmt.Sprint(want) {
		t.Errorf("sidecar args %v, want %v", args, want)
	}
}
