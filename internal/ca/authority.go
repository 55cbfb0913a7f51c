// Package ca is the mesh's certificate authority: it holds the signing
// certificate and key (a self-signed root it creates, or a plugged-in
// intermediate in Istio's cacerts layout), signs workload certificates for
// CSRs whose identity the caller has proven, mints and checks the bootstrap
// tokens of local mode, and serves Istio's IstioCertificateService.
package ca

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"github.com/halyard-mesh/halyard/internal/spiffe"
)

// Defaults of a workload certificate's lifetime.
const (
	DefaultWorkloadTTL = 24 * time.Hour
	DefaultMaxTTL      = 90 * 24 * time.Hour
)

// clockSkew backdates NotBefore so that peers whose clocks are slightly
// behind accept a fresh certificate.
const clockSkew = time.Minute

// Authority signs workload certificates.
type Authority struct {
	signer      crypto.Signer
	cert        *x509.Certificate   // the signing certificate (root or intermediate)
	chain       []*x509.Certificate // signing cert, its intermediates, then the root
	roots       []*x509.Certificate // the trust bundle
	toRoot      []*x509.Certificate // chain ending with its root: what follows a workload certificate
	trustDomain string
	ttl, maxTTL time.Duration
	now         func() time.Time
}

// Options configure an Authority.
type Options struct {
	TrustDomain string        // cluster.local by default
	WorkloadTTL time.Duration // 24h by default
	MaxTTL      time.Duration // longest lifetime a CSR may ask for; 90 days by default
	Now         func() time.Time
}

func (o *Options) defaults() {
	if o.TrustDomain == "" {
		o.TrustDomain = spiffe.DefaultTrustDomain
	}
	if o.WorkloadTTL <= 0 {
		o.WorkloadTTL = DefaultWorkloadTTL
	}
	if o.MaxTTL <= 0 {
		o.MaxTTL = max(DefaultMaxTTL, o.WorkloadTTL)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// newAuthority checks that the material fits together: the key is the
// signing certificate's, the certificate may sign, and the chain leads to
// one of the roots.
func newAuthority(m material, o Options) (*Authority, error) {
	o.defaults()
	if err := (spiffe.ID{TrustDomain: o.TrustDomain, Namespace: "ns", ServiceAccount: "sa"}).Validate(); err != nil {
		return nil, fmt.Errorf("ca: trust domain: %w", err)
	}
	if !m.cert.IsCA || m.cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("ca: the signing certificate is not a CA certificate (needs basicConstraints CA:TRUE and keyUsage keyCertSign)")
	}
	if !publicKeysEqual(m.signer.Public(), m.cert.PublicKey) {
		return nil, errors.New("ca: the key does not belong to the signing certificate")
	}
	if len(m.roots) == 0 {
		return nil, errors.New("ca: no root certificate")
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range m.roots {
		roots.AddCert(r)
	}
	for _, c := range m.chain[1:] {
		inter.AddCert(c)
	}
	if _, err := m.cert.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: o.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, fmt.Errorf("ca: the signing certificate does not chain to the root: %w", err)
	}
	return &Authority{
		signer: m.signer, cert: m.cert, chain: m.chain, roots: m.roots, toRoot: chainToRoot(m.chain, m.roots),
		trustDomain: o.TrustDomain, ttl: o.WorkloadTTL, maxTTL: o.MaxTTL, now: o.Now,
	}, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// TrustDomain is the trust domain of the identities this CA signs.
func (a *Authority) TrustDomain() string { return a.trustDomain }

// WorkloadTTL is the default lifetime of a workload certificate.
func (a *Authority) WorkloadTTL() time.Duration { return a.ttl }

// Roots returns the trust bundle.
func (a *Authority) Roots() []*x509.Certificate { return a.roots }

// RootsPEM returns the trust bundle as concatenated PEM blocks.
func (a *Authority) RootsPEM() []byte { return encodeCerts(a.roots) }

// Sign checks a PEM CSR against the identity the caller proved and returns
// the certificate chain in Istio's order: the workload certificate, the
// intermediates, the root. ttl 0 means the default lifetime; longer than the
// maximum is cut to it.
func (a *Authority) Sign(csrPEM []byte, id spiffe.ID, ttl time.Duration) ([]*x509.Certificate, error) {
	csr, err := parseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	return a.signRequest(csr, id, ttl)
}

// signRequest is Sign for a parsed CSR whose signature and key were checked.
func (a *Authority) signRequest(csr *x509.CertificateRequest, id spiffe.ID, ttl time.Duration) ([]*x509.Certificate, error) {
	if id.TrustDomain != a.trustDomain {
		return nil, fmt.Errorf("ca: sign %q: trust domain %q is not this CA's (%q)", id, id.TrustDomain, a.trustDomain)
	}
	if err := checkIdentity(csr, id); err != nil {
		return nil, err
	}
	leaf, err := a.issue(csr.PublicKey, id, ttl)
	if err != nil {
		return nil, fmt.Errorf("ca: sign %q: %w", id, err)
	}
	return append([]*x509.Certificate{leaf}, a.toRoot...), nil
}

// chainToRoot is the signing certificate and what lies above it, ending
// with the root (which is the signing certificate itself when self-signed).
func chainToRoot(chain, roots []*x509.Certificate) []*x509.Certificate {
	last := chain[len(chain)-1]
	if last.CheckSignatureFrom(last) != nil { // the chain stops below the root
		for _, r := range roots {
			if last.CheckSignatureFrom(r) == nil {
				return append(append([]*x509.Certificate(nil), chain...), r)
			}
		}
	}
	return chain
}

func (a *Authority) issue(pub crypto.PublicKey, id spiffe.ID, ttl time.Duration) (*x509.Certificate, error) {
	if ttl <= 0 {
		ttl = a.ttl
	}
	ttl = min(ttl, a.maxTTL)
	now := a.now()
	notAfter := now.Add(ttl)
	if notAfter.After(a.cert.NotAfter) {
		notAfter = a.cert.NotAfter // never outlive the signing certificate
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{}, // Istio leaves the subject empty; the identity is the URI SAN
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{id.URL()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, pub, a.signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func newSerial() *big.Int {
	// 128 random bits, as RFC 5280 and the CA/Browser forum ask (at least 64).
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[0] &= 0x7f // positive
	return new(big.Int).SetBytes(b)
}

// EncodeChain returns certificates as PEM strings, one per certificate.
func EncodeChain(certs []*x509.Certificate) []string {
	out := make([]string, len(certs))
	for i, c := range certs {
		out[i] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	return out
}

func encodeCerts(certs []*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}
