package identity

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRunRenewsAtHalfLifetime(t *testing.T) {
	ca := newTestCA(t, 2*time.Second) // renewed about every second
	m := New(Options{ID: idReviews, Signer: ca, Bundle: ca.bundle()})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { _ = m.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	serials := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(serials) < 3 && time.Now().Before(deadline) {
		if sec, err := m.Secret(SecretDefault); err == nil {
			serials[sec.Certificate.Leaf.SerialNumber.String()] = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(serials) < 3 {
		t.Fatalf("saw %d distinct serials in 10s with a 2s lifetime, want 3", len(serials))
	}
	if n := ca.calls.Load(); n > 8 {
		t.Errorf("%d signing requests for 3 certificates: renewing too eagerly", n)
	}
}

// flakySigner fails its first calls.
type flakySigner struct {
	Signer
	fails int
	mu    sync.Mutex
}

func (f *flakySigner) Sign(ctx context.Context, csr []byte) ([]string, error) {
	f.mu.Lock()
	fail := f.fails > 0
	f.fails--
	f.mu.Unlock()
	if fail {
		return nil, errors.New("ca unavailable")
	}
	return f.Signer.Sign(ctx, csr)
}

func TestRunRetriesFailures(t *testing.T) {
	ca := newTestCA(t, time.Hour)
	m := New(Options{ID: idReviews, Signer: &flakySigner{Signer: ca, fails: 3}, Bundle: ca.bundle(),
		RetryBase: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { _ = m.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	for !m.Ready() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !m.Ready() {
		t.Fatal("no certificate 5s after 3 failures")
	}
}

// lyingSigner returns what another identity's CSR would get.
type lyingSigner struct{ ca *testCA }

func (l lyingSigner) Sign(ctx context.Context, _ []byte) ([]string, error) {
	other := New(Options{ID: idProductpage})
	csr, err := other.csr(mustKey())
	if err != nil {
		return nil, err
	}
	return l.ca.Sign(ctx, csr)
}

func TestRotateChecksWhatTheCAReturns(t *testing.T) {
	ca, other := newTestCA(t, time.Hour), newTestCA(t, time.Hour)
	for _, tc := range []struct {
		name   string
		signer Signer
		bundle *testCA
		want   string
	}{
		{"wrong key and identity", lyingSigner{ca}, ca, "not for our key"},
		{"not in bundle", ca, other, "does not chain to the trust bundle"},
	} {
		m := New(Options{ID: idReviews, Signer: tc.signer, Bundle: tc.bundle.bundle()})
		if err := m.Rotate(t.Context()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
		if m.Ready() {
			t.Errorf("%s: material installed", tc.name)
		}
	}
}

func TestSecrets(t *testing.T) {
	ca := newTestCA(t, time.Hour)
	m := New(Options{ID: idReviews, Signer: ca, Bundle: ca.bundle()})
	if _, err := m.Secret(SecretDefault); !errors.Is(err, ErrNotReady) {
		t.Errorf("before the first certificate: %v, want ErrNotReady", err)
	}
	if err := m.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	def, err := m.Secret(SecretDefault)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(def.CertChainPEM), "-----BEGIN CERTIFICATE-----") || strings.Count(string(def.CertChainPEM), "BEGIN CERTIFICATE") != 1 {
		t.Errorf("default cert chain: want the workload certificate only (the root is in ROOTCA):\n%s", def.CertChainPEM)
	}
	if !strings.HasPrefix(string(def.PrivateKeyPEM), "-----BEGIN PRIVATE KEY-----") {
		t.Error("default secret has no PKCS#8 key")
	}
	root, err := m.Secret(SecretRootCA)
	if err != nil || root.TrustedCA == nil || strings.Count(string(root.TrustedCAPEM), "BEGIN CERTIFICATE") != 1 {
		t.Errorf("ROOTCA: %v", err)
	}
	if _, err := m.Secret("file-cert:/etc/certs"); err == nil || !strings.Contains(err.Error(), `want "default" or "ROOTCA"`) {
		t.Errorf("unknown secret: %v", err)
	}
}

func TestCertsHandler(t *testing.T) {
	ca := newTestCA(t, 48*time.Hour)
	m := managerFrom(t, idReviews, ca, ca.bundle())
	rec := httptest.NewRecorder()
	m.CertsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/certs", nil))
	var dump certsDump
	if err := json.Unmarshal(rec.Body.Bytes(), &dump); err != nil {
		t.Fatalf("%v\n%s", err, rec.Body)
	}
	if len(dump.Certificates) != 1 || len(dump.Certificates[0].CertChain) != 1 || len(dump.Certificates[0].CACert) != 1 {
		t.Fatalf("shape: %s", rec.Body)
	}
	leaf := dump.Certificates[0].CertChain[0]
	sec, _ := m.Secret(SecretDefault)
	if leaf.SerialNumber != sec.Certificate.Leaf.SerialNumber.Text(16) || leaf.SubjectAltNames[0].URI != idReviews ||
		leaf.DaysUntilExpiration != "1" || leaf.Path != "default" {
		t.Errorf("cert_chain entry: %+v", leaf)
	}
}
