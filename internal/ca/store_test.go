package ca

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	a, err := LoadOrCreate(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode %o, want 600", mode)
	}
	root := a.Roots()[0]
	if _, ok := root.PublicKey.(*ecdsa.PublicKey); !ok || root.PublicKey.(*ecdsa.PublicKey).Curve.Params().Name != "P-256" {
		t.Errorf("root key is %T, want ECDSA P-256", root.PublicKey)
	}
	if !root.IsCA {
		t.Error("root is not a CA certificate")
	}
	again, err := LoadOrCreate(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Roots()[0].Equal(root) {
		t.Error("a second start created another root instead of reusing the first")
	}
}

// testCA is a CA certificate and key made for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func makeCA(t *testing.T, name string, parent *testCA, isCA bool) *testCA {
	t.Helper()
	key := p256(t)
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: isCA,
	}
	parentCert, parentKey := tmpl, key
	if parent != nil {
		parentCert, parentKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key}
}

func (c *testCA) certPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw}))
}

func (c *testCA) keyPEM(t *testing.T) string {
	der, err := x509.MarshalECPrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}

// cacerts writes Istio's cacerts layout; an entry "" leaves the file out.
func cacerts(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for name, content := range files {
		if content == "\x00" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadPlugged(t *testing.T) {
	root := makeCA(t, "root", nil, true)
	inter := makeCA(t, "intermediate", root, true)
	good := map[string]string{
		CACertFile: inter.certPEM(), CAKeyFile: inter.keyPEM(t),
		RootCertFile: root.certPEM(), CertChainFile: inter.certPEM() + root.certPEM(),
	}
	a, err := LoadPlugged(cacerts(t, good), Options{})
	if err != nil {
		t.Fatal(err)
	}
	chain, err := a.Sign(csrFor(t, p256(t), nil, testID.String()), testID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 3 || !chain[1].Equal(inter.cert) || !chain[2].Equal(root.cert) {
		t.Fatalf("chain of %d: want workload, intermediate, root", len(chain))
	}
	pool := x509.NewCertPool()
	pool.AddCert(root.cert)
	inters := x509.NewCertPool()
	inters.AddCert(chain[1])
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("workload certificate does not verify against the plugged-in root: %v", err)
	}
	// cert-chain.pem without the root works too.
	good2 := clone(good)
	good2[CertChainFile] = inter.certPEM()
	if _, err := LoadPlugged(cacerts(t, good2), Options{}); err != nil {
		t.Errorf("chain without root: %v", err)
	}
}

func clone(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestLoadPluggedErrors(t *testing.T) {
	root := makeCA(t, "root", nil, true)
	inter := makeCA(t, "intermediate", root, true)
	otherRoot := makeCA(t, "other root", nil, true)
	notCA := makeCA(t, "leaf", root, false)
	good := map[string]string{
		CACertFile: inter.certPEM(), CAKeyFile: inter.keyPEM(t),
		RootCertFile: root.certPEM(), CertChainFile: inter.certPEM() + root.certPEM(),
	}
	for _, tc := range []struct {
		name, file, content, want string
	}{
		{"missing key", CAKeyFile, "\x00", "ca-key.pem: no such file"},
		{"missing chain", CertChainFile, "\x00", "cert-chain.pem: no such file"},
		{"garbage key", CAKeyFile, "hello", "ca-key.pem: no PEM block found"},
		{"certificate as key", CAKeyFile, root.certPEM(), `ca-key.pem: PEM block is "CERTIFICATE", want a private key`},
		{"garbage cert", CACertFile, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "ca-cert.pem: x509"},
		{"empty root", RootCertFile, "", "root-cert.pem: no PEM certificate found"},
		{"key of another cert", CAKeyFile, otherRoot.keyPEM(t), "the key does not belong to the signing certificate"},
		{"not a CA", CACertFile, notCA.certPEM(), "not a CA certificate"},
		{"wrong root", RootCertFile, otherRoot.certPEM(), "does not chain to the root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := clone(good)
			files[tc.file] = tc.content
			if tc.name == "not a CA" {
				files[CAKeyFile] = notCA.keyPEM(t)
			}
			_, err := LoadPlugged(cacerts(t, files), Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "ca: ") {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
