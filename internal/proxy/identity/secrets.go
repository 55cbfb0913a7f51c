package identity

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// Istio's SDS secret names: the workload's certificate chain and key, and
// the trust bundle. xDS resources reference them with sds_config; they are
// resolved in-process against a SecretProvider.
const (
	SecretDefault = "default"
	SecretRootCA  = "ROOTCA"
)

// Secret is one version of a named secret. For SecretDefault, Certificate,
// CertChainPEM and PrivateKeyPEM are set; for SecretRootCA, TrustedCA and
// TrustedCAPEM.
type Secret struct {
	Name          string
	Certificate   *tls.Certificate
	CertChainPEM  []byte
	PrivateKeyPEM []byte
	TrustedCA     *x509.CertPool
	TrustedCAPEM  []byte
}

// SecretProvider resolves SDS secret names.
type SecretProvider interface {
	Secret(name string) (*Secret, error)
}

var _ SecretProvider = (*Manager)(nil)

// Secret returns the current version of a secret.
func (m *Manager) Secret(name string) (*Secret, error) {
	mat := m.cur.Load()
	if mat == nil {
		return nil, fmt.Errorf("identity: secret %q: %w", name, ErrNotReady)
	}
	switch name {
	case SecretDefault:
		return &Secret{Name: name, Certificate: mat.cert, CertChainPEM: mat.chainPEM, PrivateKeyPEM: mat.keyPEM}, nil
	case SecretRootCA:
		return &Secret{Name: name, TrustedCA: mat.roots, TrustedCAPEM: mat.rootsPEM}, nil
	}
	return nil, fmt.Errorf("identity: secret %q: unknown (want %q or %q)", name, SecretDefault, SecretRootCA)
}
