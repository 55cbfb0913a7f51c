package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// File names: Istio's cacerts layout (a plugged-in CA) and the self-signed
// root Halyard creates.
const (
	CACertFile    = "ca-cert.pem"    // the signing certificate
	CAKeyFile     = "ca-key.pem"     // its private key
	RootCertFile  = "root-cert.pem"  // the root(s): the trust bundle
	CertChainFile = "cert-chain.pem" // the signing certificate up to (and maybe including) the root
)

// rootTTL is the lifetime of a root Halyard creates itself.
const rootTTL = 10 * 365 * 24 * time.Hour

// material is what an Authority is made of.
type material struct {
	signer crypto.Signer
	cert   *x509.Certificate
	chain  []*x509.Certificate // starts with cert
	roots  []*x509.Certificate
}

// LoadOrCreate returns the self-signed CA kept in dir, creating an ECDSA
// P-256 root there (key file mode 0600) on first use.
func LoadOrCreate(dir string, o Options) (*Authority, error) {
	o.defaults()
	keyPath, certPath := filepath.Join(dir, CAKeyFile), filepath.Join(dir, RootCertFile)
	_, err := os.Stat(keyPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := createRoot(dir, o); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("ca: %w", err)
	}
	signer, err := readKey(keyPath)
	if err != nil {
		return nil, err
	}
	roots, err := readCerts(certPath)
	if err != nil {
		return nil, err
	}
	// root-cert.pem may hold several roots (during a root rotation); the
	// signing root is the one that matches the key.
	for _, r := range roots {
		if publicKeysEqual(signer.Public(), r.PublicKey) {
			return newAuthority(material{signer: signer, cert: r, chain: []*x509.Certificate{r}, roots: roots}, o)
		}
	}
	return nil, fmt.Errorf("ca: %s: no certificate matches the key in %s", certPath, keyPath)
}

func createRoot(dir string, o Options) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("ca: root key: %w", err)
	}
	now := o.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{Organization: []string{o.TrustDomain}, CommonName: "Halyard root CA"},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(rootTTL),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("ca: root certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("ca: root key: %w", err)
	}
	// The certificate first: a key without its certificate would be read
	// as a broken CA next time, a certificate without its key is replaced.
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeFile(filepath.Join(dir, RootCertFile), certPEM, 0o644); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, CAKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// writeFile writes atomically with the given mode.
func writeFile(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	if err := os.Chmod(tmp, mode); err != nil { // WriteFile's mode is filtered by the umask
		return fmt.Errorf("ca: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	return nil
}

// LoadPlugged returns the CA in dir in Istio's cacerts layout: ca-cert.pem
// and ca-key.pem sign, root-cert.pem is the trust bundle, cert-chain.pem is
// the chain from ca-cert.pem upwards.
func LoadPlugged(dir string, o Options) (*Authority, error) {
	signer, err := readKey(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, err
	}
	certs, err := readCerts(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, err
	}
	roots, err := readCerts(filepath.Join(dir, RootCertFile))
	if err != nil {
		return nil, err
	}
	chain, err := readCerts(filepath.Join(dir, CertChainFile))
	if err != nil {
		return nil, err
	}
	if !chain[0].Equal(certs[0]) {
		chain = append([]*x509.Certificate{certs[0]}, chain...)
	}
	a, err := newAuthority(material{signer: signer, cert: certs[0], chain: chain, roots: roots}, o)
	if err != nil {
		return nil, fmt.Errorf("%w (plugged-in CA in %s)", err, dir)
	}
	return a, nil
}

func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("ca: %s: no PEM block found", path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("ca: %s: PEM block is %q, want a private key", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("ca: %s: key type %T cannot sign", path, key)
	}
	return signer, nil
}

func readCerts(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	certs, err := parseCerts(b)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", path, err)
	}
	return certs, nil
}

// parseCerts decodes every CERTIFICATE block; anything else is an error.
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block is %q, want \"CERTIFICATE\"", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}
