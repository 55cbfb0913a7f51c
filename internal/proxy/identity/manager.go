// Package identity is the sidecar's workload identity: it generates a key
// (which never leaves the process), has the mesh's CA sign a CSR for the
// pod's SPIFFE ID, renews the certificate at half its lifetime, and hands
// the current material out atomically: as tls.Configs for mutual TLS, and
// under Istio's SDS secret names ("default", "ROOTCA") for xDS resources
// that reference them.
package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync/atomic"
	"time"
)

// Signer has a CSR signed; CAClient is the real one.
type Signer interface {
	Sign(ctx context.Context, csrPEM []byte) (chainPEM []string, err error)
}

// Options configure a Manager.
type Options struct {
	ID     string // the SPIFFE ID to ask for
	Signer Signer
	// Bundle returns the trust bundle (every root currently trusted); it is
	// read again at every renewal, so a root rotation needs no restart.
	Bundle func() ([]*x509.Certificate, error)
	Log    *slog.Logger
	Now    func() time.Time // time.Now by default
	// RetryBase is the first retry delay after a failed renewal (1s by
	// default), doubled up to RetryMax (30s by default).
	RetryBase, RetryMax time.Duration
}

// Manager holds the current identity material.
type Manager struct {
	opts Options
	log  *slog.Logger
	cur  atomic.Pointer[material]
}

// material is one version of the identity: replaced whole, never mutated.
type material struct {
	installed time.Time
	cert      *tls.Certificate // chain (without the root) and key; Leaf set
	chainPEM  []byte
	keyPEM    []byte
	roots     *x509.CertPool
	rootList  []*x509.Certificate
	rootsPEM  []byte
}

// ErrNotReady means no certificate has been obtained yet.
var ErrNotReady = errors.New("identity: no certificate yet")

// New returns a Manager; Run obtains and renews the certificate.
func New(o Options) *Manager {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RetryBase <= 0 {
		o.RetryBase = time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 30 * time.Second
	}
	return &Manager{opts: o, log: o.Log.With("component", "identity", "id", o.ID)}
}

// Run obtains a certificate, then renews it at half its lifetime (retrying
// with backoff on failure), until ctx is done.
func (m *Manager) Run(ctx context.Context) error {
	delay := time.Duration(0)
	retry := m.opts.RetryBase
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		if err := m.Rotate(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			m.log.Warn("certificate renewal failed", "error", err, "retry_in", retry)
			delay, retry = retry, min(2*retry, m.opts.RetryMax)
		} else {
			delay, retry = m.renewIn(), m.opts.RetryBase
		}
		timer.Reset(delay)
	}
}

// minRenewDelay keeps a certificate that is already past its half life
// (or expired) from turning renewal into a busy loop.
const minRenewDelay = 200 * time.Millisecond

// renewIn is the time until half the current certificate's remaining
// lifetime at the time it was installed (CAs backdate NotBefore for clock
// skew, so NotBefore is not when it was issued).
func (m *Manager) renewIn() time.Duration {
	mat := m.cur.Load()
	start := mat.installed
	if nb := mat.cert.Leaf.NotBefore; nb.After(start) {
		start = nb
	}
	half := start.Add(mat.cert.Leaf.NotAfter.Sub(start) / 2)
	return max(half.Sub(m.opts.Now()), minRenewDelay)
}

// Rotate obtains a new key and certificate now and installs them; existing
// connections keep the material they were made with.
func (m *Manager) Rotate(ctx context.Context) error {
	roots, err := m.opts.Bundle()
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("identity: key: %w", err)
	}
	csr, err := m.csr(key)
	if err != nil {
		return err
	}
	chain, err := m.opts.Signer.Sign(ctx, csr)
	if err != nil {
		return err
	}
	mat, err := m.newMaterial(key, chain, roots)
	if err != nil {
		return err
	}
	m.cur.Store(mat)
	m.log.Info("certificate installed", "serial", mat.cert.Leaf.SerialNumber.Text(16), "expires", mat.cert.Leaf.NotAfter.Format(time.RFC3339))
	return nil
}

func (m *Manager) csr(key *ecdsa.PrivateKey) ([]byte, error) {
	u, err := url.Parse(m.opts.ID)
	if err != nil {
		return nil, fmt.Errorf("identity: id %q: %w", m.opts.ID, err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{u}}, key)
	if err != nil {
		return nil, fmt.Errorf("identity: csr: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// newMaterial checks what the CA returned: the leaf is for our key and our
// ID and chains to the bundle.
func (m *Manager) newMaterial(key *ecdsa.PrivateKey, chainPEM []string, roots []*x509.Certificate) (*material, error) {
	if len(chainPEM) == 0 {
		return nil, errors.New("identity: the CA returned no certificate")
	}
	var certs []*x509.Certificate
	for i, p := range chainPEM {
		c, err := parseCertPEM([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("identity: certificate %d from the CA: %w", i, err)
		}
		certs = append(certs, c)
	}
	leaf := certs[0]
	if !key.PublicKey.Equal(leaf.PublicKey) {
		return nil, errors.New("identity: the CA's certificate is not for our key")
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != m.opts.ID {
		return nil, fmt.Errorf("identity: the CA's certificate is for %v, want %s", leaf.URIs, m.opts.ID)
	}
	pool := newPool(roots)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: newPool(certs[1:]), CurrentTime: m.opts.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("identity: the CA's certificate does not chain to the trust bundle: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("identity: key: %w", err)
	}
	tc := &tls.Certificate{PrivateKey: key, Leaf: leaf}
	var chain []byte
	for _, c := range certs {
		if isSelfSigned(c) {
			continue // peers have the root already
		}
		tc.Certificate = append(tc.Certificate, c.Raw)
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return &material{
		installed: m.opts.Now(), cert: tc, chainPEM: chain,
		keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		roots:  pool, rootList: roots, rootsPEM: encodeCerts(roots),
	}, nil
}

// ID returns the SPIFFE ID the manager obtains certificates for.
func (m *Manager) ID() string { return m.opts.ID }

// Ready reports whether a certificate is installed.
func (m *Manager) Ready() bool { return m.cur.Load() != nil }

func isSelfSigned(c *x509.Certificate) bool {
	return c.IsCA && c.CheckSignatureFrom(c) == nil
}

func newPool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

func encodeCerts(certs []*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

// FileBundle returns a Bundle function reading every PEM certificate of a
// file (the mesh's root-cert.pem; during a root rotation it holds both roots).
func FileBundle(path string) func() ([]*x509.Certificate, error) {
	return func() ([]*x509.Certificate, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("identity: trust bundle: %w", err)
		}
		var certs []*x509.Certificate
		for {
			var block *pem.Block
			if block, b = pem.Decode(b); block == nil {
				break
			}
			if block.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("identity: trust bundle %s: %w", path, err)
			}
			certs = append(certs, c)
		}
		if len(certs) == 0 {
			return nil, fmt.Errorf("identity: trust bundle %s: no PEM certificate", path)
		}
		return certs, nil
	}
}

// PoolFrom adapts a Bundle function to a CertPool function (CAClient.Roots).
func PoolFrom(bundle func() ([]*x509.Certificate, error)) func() (*x509.CertPool, error) {
	return func() (*x509.CertPool, error) {
		certs, err := bundle()
		if err != nil {
			return nil, err
		}
		return newPool(certs), nil
	}
}
