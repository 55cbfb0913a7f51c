package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/local"
)

// certsDump is the part of a sidecar's GET /certs (Envoy's shape) we check.
type certsDump struct {
	Certificates []struct {
		CACert    []certInfo `json:"ca_cert"`
		CertChain []certInfo `json:"cert_chain"`
	} `json:"certificates"`
}

type certInfo struct {
	SerialNumber    string `json:"serial_number"`
	SubjectAltNames []struct {
		URI string `json:"uri"`
	} `json:"subject_alt_names"`
	ValidFrom      time.Time `json:"valid_from"`
	ExpirationTime time.Time `json:"expiration_time"`
}

// workloadCert returns the SPIFFE ID, serial and expiry of a sidecar's
// current certificate ("" when it has none yet).
func workloadCert(adminAddr string) (id, serial string, expires time.Time, err error) {
	resp, err := http.Get("http://" + adminAddr + "/certs")
	if err != nil {
		return "", "", time.Time{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", "", time.Time{}, fmt.Errorf("GET /certs: %s: %s", resp.Status, b)
	}
	var d certsDump
	if err := json.Unmarshal(b, &d); err != nil {
		return "", "", time.Time{}, fmt.Errorf("GET /certs: %w: %s", err, b)
	}
	if len(d.Certificates) == 0 || len(d.Certificates[0].CertChain) == 0 {
		return "", "", time.Time{}, nil
	}
	c := d.Certificates[0].CertChain[0]
	if len(c.SubjectAltNames) != 1 || len(d.Certificates[0].CACert) == 0 {
		return "", "", time.Time{}, fmt.Errorf("GET /certs: want one SAN and a CA certificate: %s", b)
	}
	return c.SubjectAltNames[0].URI, c.SerialNumber, c.ExpirationTime, nil
}

// TestWorkloadCertificates runs the demo with 4-second certificates: every
// sidecar gets one for its pod's service account, and renews it.
func TestWorkloadCertificates(t *testing.T) {
	const ttl = 4 * time.Second
	m := startMesh(t, bookinfo(), "--workload-cert-ttl", ttl.String())
	want := map[string]string{} // pod -> SPIFFE ID
	for _, p := range m.state.Pods {
		sa := "bookinfo-" + strings.Split(p.Workload, "-")[0]
		if p.Workload == "halyard-exec" {
			sa = "default"
		}
		want[p.Name] = "spiffe://cluster.local/ns/" + p.Namespace + "/sa/" + sa
	}
	if len(want) != 7 {
		t.Fatalf("%d pods, want 7 (6 bookinfo + halyard-exec): %v", len(want), want)
	}

	serials := map[string]map[string]bool{} // pod -> serials seen
	deadline := time.Now().Add(30 * time.Second)
	for {
		done := true
		for _, p := range m.state.Pods {
			id, serial, expires, err := workloadCert(p.AdminAddress)
			if err != nil {
				t.Fatalf("pod %s: %v", p.Name, err)
			}
			if id == "" {
				done = false
				continue
			}
			if id != want[p.Name] {
				t.Fatalf("pod %s has a certificate for %s, want %s", p.Name, id, want[p.Name])
			}
			if left := time.Until(expires); left > ttl+time.Second {
				t.Fatalf("pod %s: certificate expires in %s, want at most %s", p.Name, left, ttl)
			}
			if serials[p.Name] == nil {
				serials[p.Name] = map[string]bool{}
			}
			serials[p.Name][serial] = true
			if len(serials[p.Name]) < 3 {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 30s, not every sidecar had 3 certificates (renewed at half of %s): %v", ttl, serials)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for pod, s := range serials {
		t.Logf("%s: %s, %d serials seen", pod, want[pod], len(s))
	}

	t.Run("bootstrap tokens are private", func(t *testing.T) {
		for _, p := range m.state.Pods {
			st, err := os.Stat(filepath.Join(m.stateDir, "pods", p.Namespace+"."+p.Name, "token"))
			if err != nil {
				t.Fatal(err)
			}
			if mode := st.Mode().Perm(); mode != 0o600 {
				t.Errorf("pod %s: token mode %o, want 600", p.Name, mode)
			}
		}
		st, err := os.Stat(filepath.Join(m.stateDir, "ca", "ca-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if mode := st.Mode().Perm(); mode != 0o600 {
			t.Errorf("root key mode %o, want 600", mode)
		}
	})
	t.Run("traffic still flows", func(t *testing.T) {
		code, _, _, err := get(m.client("halyard-exec"), "http://productpage:9080/", nil)
		if err != nil || code != http.StatusOK {
			t.Fatalf("productpage: %d, %v", code, err)
		}
	})
}

// makeCACert returns a CA certificate (self-signed when parent is nil) and
// its key.
func makeCACert(t *testing.T, name string, serial int64, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func pemCert(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// TestPluggedInCA runs a mesh whose CA is an intermediate given in Istio's
// cacerts layout, in another trust domain.
func TestPluggedInCA(t *testing.T) {
	root, rootKey := makeCACert(t, "test root", 0x5eed, nil, nil)
	inter, interKey := makeCACert(t, "test intermediate", 0x1417, root, rootKey)
	keyDER, err := x509.MarshalPKCS8PrivateKey(interKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"ca-cert.pem":    pemCert(inter),
		"ca-key.pem":     string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		"root-cert.pem":  pemCert(root),
		"cert-chain.pem": pemCert(inter) + pemCert(root),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m := startMesh(t, map[string]string{"echo.yaml": sampleService("echo", "http", 8080, 1)},
		"--cacerts", dir, "--trust-domain", "example.org")
	var pod *local.PodState
	for i := range m.state.Pods {
		if m.state.Pods[i].Workload == "echo" {
			pod = &m.state.Pods[i]
		}
	}
	if pod == nil {
		t.Fatalf("no echo pod: %+v", m.state.Pods)
	}
	var d certsDump
	waitFor(t, 20*time.Second, func() bool {
		resp, err := http.Get("http://" + pod.AdminAddress + "/certs")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		d = certsDump{}
		return json.NewDecoder(resp.Body).Decode(&d) == nil && len(d.Certificates) == 1
	})
	c := d.Certificates[0]
	if got := c.CertChain[0].SubjectAltNames[0].URI; got != "spiffe://example.org/ns/default/sa/default" {
		t.Errorf("workload identity %s, want spiffe://example.org/ns/default/sa/default", got)
	}
	if len(c.CACert) != 1 || c.CACert[0].SerialNumber != "5eed" {
		t.Errorf("trust bundle %+v, want the plugged-in root (serial 5eed)", c.CACert)
	}
	bundle, err := os.ReadFile(filepath.Join(m.stateDir, "trust-bundle.pem"))
	if err != nil || string(bundle) != pemCert(root) {
		t.Errorf("trust-bundle.pem is not the plugged-in root (%v)", err)
	}
}

// TestBadCACertsRefused: a broken --cacerts directory stops `halyard up`
// with the file and the reason, before anything starts.
func TestBadCACertsRefused(t *testing.T) {
	m := &mesh{t: t, dir: filepath.Join(t.TempDir(), "config"), stateDir: filepath.Join(t.TempDir(), "state")}
	if err := os.MkdirAll(m.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m.write("echo.yaml", sampleService("echo", "http", 8080, 1))
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "ca-key.pem"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := m.halyard(t.Context(), "up", "-f", m.dir, "--cacerts", bad,
		"--xds-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0", "--ca-address", "127.0.0.1:0")
	want := "up: ca: " + filepath.Join(bad, "ca-key.pem") + ": no PEM block found"
	if err == nil || !strings.Contains(out, want) {
		t.Fatalf("halyard up with a broken cacerts: %v\n%s\nwant %q", err, out, want)
	}
	if _, err := os.Stat(filepath.Join(m.stateDir, "logs")); err == nil {
		t.Error("pods were started before the CA was checked")
	}
}
