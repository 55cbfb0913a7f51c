package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"

	"github.com/halyard-mesh/halyard/internal/spiffe"
)

// Istio's ALPN values for sidecar-to-sidecar mutual TLS, in the order
// Istio's client offers them.
const (
	ALPNPeerExchange = "istio-peer-exchange"
	ALPNHTTP10       = "istio-http/1.0"
	ALPNHTTP11       = "istio-http/1.1"
	ALPNH2           = "istio-h2"
	ALPNIstio        = "istio"
)

// ServerTLSConfig returns a config for an inbound mutual-TLS listener: it
// presents the current workload certificate, requires a client certificate
// and verifies it against the current trust bundle (not the system roots).
// Each handshake reads the current material, so a renewal applies to new
// connections without touching existing ones.
func (m *Manager) ServerTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:            tls.VersionTLS12,
		ClientAuth:            tls.RequireAnyClientCert, // verified below against the bundle
		GetCertificate:        func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return m.current() },
		VerifyPeerCertificate: m.verifyPeer(nil),
	}
}

// ClientTLSConfig returns a config for an outbound mutual-TLS connection:
// it presents the current workload certificate and accepts a server whose
// certificate chains to the current trust bundle and, when expectedSANs is
// not empty, whose SPIFFE ID is one of them (Istio's subjectAltNames check;
// host names are not checked, as Istio does not).
func (m *Manager) ClientTLSConfig(expectedSANs []string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The standard verification checks host names against the system
		// roots; identities are checked in VerifyPeerCertificate instead.
		InsecureSkipVerify:    true,
		GetClientCertificate:  func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return m.current() },
		VerifyPeerCertificate: m.verifyPeer(slices.Clone(expectedSANs)),
	}
}

func (m *Manager) current() (*tls.Certificate, error) {
	mat := m.cur.Load()
	if mat == nil {
		return nil, ErrNotReady
	}
	return mat.cert, nil
}

// verifyPeer checks a peer's chain against the current bundle and, when
// allowed is not empty, its SPIFFE ID against the list.
func (m *Manager) verifyPeer(allowed []string) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		mat := m.cur.Load()
		if mat == nil {
			return ErrNotReady
		}
		if len(raw) == 0 {
			return errors.New("identity: peer sent no certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, r := range raw {
			c, err := x509.ParseCertificate(r)
			if err != nil {
				return fmt.Errorf("identity: peer certificate: %w", err)
			}
			certs[i] = c
		}
		if _, err := certs[0].Verify(x509.VerifyOptions{
			Roots: mat.roots, Intermediates: newPool(certs[1:]), CurrentTime: m.opts.Now(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		}); err != nil {
			return fmt.Errorf("identity: peer certificate: %w", err)
		}
		id, err := spiffe.FromCertificate(certs[0])
		if err != nil {
			return fmt.Errorf("identity: peer certificate: %w", err)
		}
		if len(allowed) > 0 && !slices.Contains(allowed, id) {
			return fmt.Errorf("identity: peer is %s, want one of %v", id, allowed)
		}
		return nil
	}
}

// PeerIdentity returns the SPIFFE ID of the peer of a connection made with
// ServerTLSConfig or ClientTLSConfig (whose handshake verified the chain).
func PeerIdentity(cs tls.ConnectionState) (string, error) {
	if !cs.HandshakeComplete {
		return "", errors.New("identity: handshake not complete")
	}
	if len(cs.PeerCertificates) == 0 {
		return "", errors.New("identity: peer sent no certificate")
	}
	return spiffe.FromCertificate(cs.PeerCertificates[0])
}
