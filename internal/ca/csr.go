package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/halyard-mesh/halyard/internal/spiffe"
)

// Key types a workload may use, as Istio accepts them.
const minRSABits = 2048

// ErrBadCSR wraps every reason a CSR is refused before identity checks.
var ErrBadCSR = errors.New("bad CSR")

// ErrIdentityMismatch means a CSR asks for an identity the caller did not prove.
var ErrIdentityMismatch = errors.New("identity mismatch")

// parseCSR decodes one PEM CSR, checks its signature and its key.
func parseCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	block, rest := pem.Decode(csrPEM)
	if block == nil {
		return nil, fmt.Errorf("ca: %w: no PEM block found", ErrBadCSR)
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("ca: %w: PEM block is %q, want \"CERTIFICATE REQUEST\"", ErrBadCSR, block.Type)
	}
	if b, _ := pem.Decode(rest); b != nil {
		return nil, fmt.Errorf("ca: %w: more than one PEM block", ErrBadCSR)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca: %w: %w", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("ca: %w: signature: %w", ErrBadCSR, err)
	}
	if err := checkKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("ca: %w: %w", ErrBadCSR, err)
	}
	return csr, nil
}

func checkKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("ECDSA curve %s not allowed (want P-256 or P-384)", k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA key of %d bits is too small (want at least %d)", k.N.BitLen(), minRSABits)
		}
	default:
		return fmt.Errorf("key type %T not allowed (want ECDSA P-256/P-384 or RSA >= %d bits)", pub, minRSABits)
	}
	return nil
}

// checkIdentity requires the CSR's only SAN to be the proven identity.
func checkIdentity(csr *x509.CertificateRequest, id spiffe.ID) error {
	if len(csr.DNSNames)+len(csr.IPAddresses)+len(csr.EmailAddresses) > 0 {
		return fmt.Errorf("ca: sign %q: %w: the CSR asks for DNS, IP or email SANs; only the SPIFFE ID is allowed", id, ErrIdentityMismatch)
	}
	if len(csr.URIs) != 1 {
		return fmt.Errorf("ca: sign %q: %w: the CSR has %d URI SANs, want exactly 1", id, ErrIdentityMismatch, len(csr.URIs))
	}
	if got := csr.URIs[0].String(); got != id.String() {
		return fmt.Errorf("ca: sign %q: %w: the CSR asks for %q", id, ErrIdentityMismatch, got)
	}
	return nil
}
