package ca_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	securityapi "istio.io/api/security/v1alpha1"

	"github.com/halyard-mesh/halyard/internal/ca"
	"github.com/halyard-mesh/halyard/internal/proxy/identity"
)

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type fixture struct {
	addr     string
	rootFile string
	dir      string
	tokens   *ca.Tokens
	issued   atomic.Int64
	log      *lockedBuffer
	auth     *ca.Authority
}

// startCA serves the real IstioCertificateService over TLS on port 0.
func startCA(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), log: &lockedBuffer{}}
	var err error
	if f.auth, err = ca.LoadOrCreate(filepath.Join(f.dir, "ca"), ca.Options{}); err != nil {
		t.Fatal(err)
	}
	if f.tokens, err = ca.NewTokens(nil); err != nil {
		t.Fatal(err)
	}
	f.rootFile = filepath.Join(f.dir, "root-cert.pem")
	if err := os.WriteFile(f.rootFile, f.auth.RootsPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(f.auth.ServerTLSConfig([]string{"127.0.0.1"}))))
	securityapi.RegisterIstioCertificateServiceServer(srv, ca.NewService(ca.ServiceOptions{
		Authority: f.auth, Auth: f.tokens, Logger: slog.New(slog.NewTextHandler(f.log, nil)),
		OnIssued: func(string) { f.issued.Add(1) },
	}))
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return f
}

// manager returns a sidecar identity manager asking for id with a token
// minted for ns/sa.
func (f *fixture) manager(t *testing.T, id, ns, sa string) *identity.Manager {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "token")
	tok := ""
	if ns != "" {
		var err error
		if tok, err = f.tokens.Mint(ns, sa, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(tokenFile, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	bundle := identity.FileBundle(f.rootFile)
	client := identity.NewCAClient(identity.CAClientOptions{Address: f.addr, TokenFile: tokenFile, Roots: identity.PoolFrom(bundle)})
	return identity.New(identity.Options{ID: id, Signer: client, Bundle: bundle})
}

// TestSidecarClientAgainstIstioService checks the sidecar's hand-encoded
// CreateCertificate against the service built on istio.io/api's generated
// server, over real TLS.
func TestSidecarClientAgainstIstioService(t *testing.T) {
	f := startCA(t)
	ctx := context.Background()
	const id = "spiffe://cluster.local/ns/default/sa/reviews"
	m := f.manager(t, id, "default", "reviews")
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	sec, err := m.Secret(identity.SecretDefault)
	if err != nil {
		t.Fatal(err)
	}
	if got := sec.Certificate.Leaf.URIs[0].String(); got != id {
		t.Errorf("certificate for %s, want %s", got, id)
	}
	if got := sec.Certificate.Leaf.NotAfter.Sub(sec.Certificate.Leaf.NotBefore); got != 24*time.Hour+time.Minute {
		t.Errorf("lifetime %s, want 24h (+1m backdating)", got)
	}
	if n := f.issued.Load(); n != 1 {
		t.Errorf("OnIssued called %d times, want 1", n)
	}

	t.Run("other identity refused and logged", func(t *testing.T) {
		m := f.manager(t, "spiffe://cluster.local/ns/default/sa/ratings", "default", "reviews")
		err := m.Rotate(ctx)
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "identity mismatch") {
			t.Fatalf("got %v, want PermissionDenied", err)
		}
		if !strings.Contains(f.log.String(), `msg="certificate refused"`) || !strings.Contains(f.log.String(), "sa/ratings") {
			t.Errorf("refusal not logged:\n%s", f.log.String())
		}
	})
	t.Run("no token", func(t *testing.T) {
		err := f.manager(t, id, "", "").Rotate(ctx)
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "no bearer token") {
			t.Fatalf("got %v, want Unauthenticated", err)
		}
	})
	t.Run("token of another mesh", func(t *testing.T) {
		other, _ := ca.NewTokens(nil)
		tok, _ := other.Mint("default", "reviews", time.Hour)
		_, err := callOfficial(t, f, tok, &securityapi.IstioCertificateRequest{Csr: "x"})
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "signature does not match") {
			t.Fatalf("got %v, want Unauthenticated", err)
		}
	})
	t.Run("CA not in the trust bundle", func(t *testing.T) {
		otherCA, err := ca.LoadOrCreate(t.TempDir(), ca.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.rootFile, otherCA.RootsPEM(), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(f.rootFile, f.auth.RootsPEM(), 0o644)
		err = f.manager(t, id, "default", "reviews").Rotate(ctx)
		if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Fatalf("got %v, want a TLS verification failure", err)
		}
	})
	t.Run("official client", func(t *testing.T) {
		tok, _ := f.tokens.Mint("default", "reviews", time.Hour)
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		u, _ := url.Parse(id)
		der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{u}}, key)
		csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
		resp, err := callOfficial(t, f, tok, &securityapi.IstioCertificateRequest{Csr: string(csr), ValidityDuration: 3600})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.CertChain) != 2 {
			t.Fatalf("chain of %d, want 2", len(resp.CertChain))
		}
		block, _ := pem.Decode([]byte(resp.CertChain[0]))
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if got := leaf.NotAfter.Sub(leaf.NotBefore); got != time.Hour+time.Minute {
			t.Errorf("validity_duration 3600: lifetime %s, want 1h (+1m backdating)", got)
		}
	})
	if n := f.issued.Load(); n != 2 {
		t.Errorf("OnIssued called %d times, want 2 (the refusals do not count)", n)
	}
}

// callOfficial calls the service with istio.io/api's generated client.
func callOfficial(t *testing.T, f *fixture, token string, req *securityapi.IstioCertificateRequest) (*securityapi.IstioCertificateResponse, error) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(f.auth.Roots()[0])
	creds := credentials.NewClientTLSFromCert(pool, "127.0.0.1")
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
	return securityapi.NewIstioCertificateServiceClient(conn).CreateCertificate(ctx, req)
}
