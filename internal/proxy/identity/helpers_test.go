package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"sync/atomic"
	"testing"
	"time"
)

// testCA signs CSRs in-process, as the mesh's CA would (the data plane's
// tests do not import the control plane).
type testCA struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	ttl    time.Duration
	serial atomic.Int64
	calls  atomic.Int64
}

func newTestCA(t *testing.T, ttl time.Duration) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	c := &testCA{cert: cert, key: key, ttl: ttl}
	c.serial.Store(100)
	return c
}

// Sign implements Signer: it issues a certificate for the CSR's URI SAN.
func (c *testCA) Sign(_ context.Context, csrPEM []byte) ([]string, error) {
	c.calls.Add(1)
	block, _ := pem.Decode(csrPEM)
	if block == nil {
		return nil, errors.New("test ca: no CSR")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(c.serial.Add(1)), NotBefore: now.Add(-time.Second), NotAfter: now.Add(c.ttl),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:        csr.URIs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, csr.PublicKey, c.key)
	if err != nil {
		return nil, err
	}
	return []string{
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})),
	}, nil
}

func (c *testCA) bundle(extra ...*testCA) func() ([]*x509.Certificate, error) {
	certs := []*x509.Certificate{c.cert}
	for _, e := range extra {
		certs = append(certs, e.cert)
	}
	return func() ([]*x509.Certificate, error) { return certs, nil }
}

const (
	idReviews     = "spiffe://cluster.local/ns/default/sa/reviews"
	idProductpage = "spiffe://cluster.local/ns/default/sa/productpage"
)

// managerFrom returns a Manager for id whose certificates c signs and whose
// trust bundle is bundle.
func managerFrom(t *testing.T, id string, c *testCA, bundle func() ([]*x509.Certificate, error)) *Manager {
	t.Helper()
	m := New(Options{ID: id, Signer: c, Bundle: bundle, RetryBase: 10 * time.Millisecond})
	if err := m.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}
