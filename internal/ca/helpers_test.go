package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"testing"

	"github.com/halyard-mesh/halyard/internal/spiffe"
)

var testID = spiffe.ID{TrustDomain: "cluster.local", Namespace: "default", ServiceAccount: "reviews"}

func newTestCA(t testing.TB, o Options) *Authority {
	t.Helper()
	a, err := LoadOrCreate(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func p256(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// csrFor returns a PEM CSR signed by key for the given URI SANs.
func csrFor(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest, uris ...string) []byte {
	t.Helper()
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{}
	}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}
