package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// originServer is an HTTPS server outside the mesh that records the SNI
// and client certificate of every request it answers.
type originServer struct {
	*httptest.Server
	mu        sync.Mutex
	requests  int
	sni       map[string]int
	withCerts int
}

func (s *originServer) port() int { return s.Listener.Addr().(*net.TCPAddr).Port }

func (s *originServer) seen() (requests, withCerts int, sni map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.sni {
		out[k] = v
	}
	return s.requests, s.withCerts, out
}

// startOriginServer serves HTTPS with a certificate for dns signed by ca;
// with clientCA it requires a client certificate signed by it.
func startOriginServer(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, clientCA *x509.Certificate, dns ...string) *originServer {
	t.Helper()
	cert := leafCert(t, ca, caKey, x509.ExtKeyUsageServerAuth, dns...)
	s := &originServer{sni: map[string]int{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests++
		s.sni[r.TLS.ServerName]++
		if len(r.TLS.PeerCertificates) > 0 {
			s.withCerts++
		}
		s.mu.Unlock()
		fmt.Fprintf(w, "tls %s", r.TLS.ServerName)
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	if clientCA != nil {
		pool := x509.NewCertPool()
		pool.AddCert(clientCA)
		s.TLS.ClientCAs, s.TLS.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// leafCert issues a certificate for the DNS names.
func leafCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, usage x509.ExtKeyUsage, dns ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "leaf"},
		DNSNames: dns, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// writePEM writes a certificate (and with key, its key) into dir.
func writePEM(t *testing.T, dir, name string, cert tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	certFile = filepath.Join(dir, name+".pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if cert.PrivateKey == nil {
		return certFile, ""
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// externalService is a ServiceEntry for host on port 80 (HTTP), served by
// 127.0.0.1:port, and a DestinationRule with the tls settings (YAML flow).
func externalService(name, host string, port int, tlsSettings string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: %[1]s
spec:
  hosts: [%[2]s]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - {name: http, number: 80, protocol: HTTP}
  endpoints:
  - address: 127.0.0.1
    ports: {http: %[3]d}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: %[1]s
spec:
  host: %[2]s
  trafficPolicy:
    tls: %[4]s
`, name, host, port, tlsSettings)
}

// TestDestinationRuleTLS: the application sends plain HTTP to hosts
// outside the mesh and the sidecar originates TLS as each
// DestinationRule says: SIMPLE with a CA file (SNI defaulting to the
// host, or set), a wrong CA (503, UF), a SAN mismatch (503, UF), MUTUAL
// with and without a client certificate.
func TestDestinationRuleTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := makeCACert(t, "origin ca", 11, nil, nil)
	other, _ := makeCACert(t, "other ca", 12, nil, nil)
	clientCA, clientCAKey := makeCACert(t, "client ca", 13, nil, nil)
	caFile, _ := writePEM(t, dir, "ca", tls.Certificate{Certificate: [][]byte{ca.Raw}})
	otherFile, _ := writePEM(t, dir, "other", tls.Certificate{Certificate: [][]byte{other.Raw}})
	certFile, keyFile := writePEM(t, dir, "client", leafCert(t, clientCA, clientCAKey, x509.ExtKeyUsageClientAuth))

	simple := startOriginServer(t, ca, caKey, nil, "api.example.test", "edge.example.test")
	mutual := startOriginServer(t, ca, caKey, clientCA, "mtls.example.test")
	files := map[string]string{
		"api.yaml":   externalService("api", "api.example.test", simple.port(), fmt.Sprintf("{mode: SIMPLE, caCertificates: %s}", caFile)),
		"edge.yaml":  externalService("edge", "edge.example.test", simple.port(), fmt.Sprintf("{mode: SIMPLE, caCertificates: %s, sni: edge.example.test}", caFile)),
		"wrong.yaml": externalService("wrong", "wrong.example.test", simple.port(), fmt.Sprintf("{mode: SIMPLE, caCertificates: %s, sni: api.example.test}", otherFile)),
		"san.yaml": externalService("san", "san.example.test", simple.port(),
			fmt.Sprintf("{mode: SIMPLE, caCertificates: %s, sni: api.example.test, subjectAltNames: [db.example.test]}", caFile)),
		"mtls.yaml": externalService("mtls", "mtls.example.test", mutual.port(),
			fmt.Sprintf("{mode: MUTUAL, caCertificates: %s, clientCertificate: %s, privateKey: %s}", caFile, certFile, keyFile)),
		"nocert.yaml": externalService("nocert", "nocert.example.test", mutual.port(),
			fmt.Sprintf("{mode: SIMPLE, caCertificates: %s, sni: mtls.example.test}", caFile)),
	}
	m := startMesh(t, files)
	c := m.client("halyard-exec")

	// A TLS 1.3 server refuses a missing client certificate after the
	// client's side of the handshake: the connection ends at the first
	// read (UC, connection termination), as with Envoy.
	const n = 5
	cases := []struct {
		host       string
		server     *originServer
		wantStatus int
		wantSNI    string
		wantCerts  int
		wantFlags  string // response_flags of the failures
		wantBody   string
	}{
		{host: "api.example.test", server: simple, wantStatus: 200, wantSNI: "api.example.test"},
		{host: "edge.example.test", server: simple, wantStatus: 200, wantSNI: "edge.example.test"},
		{host: "wrong.example.test", server: simple, wantStatus: 503, wantFlags: "UF,URX",
			wantBody: "reset reason: connection failure, transport failure reason: tls: x509: certificate signed by unknown authority"},
		{host: "san.example.test", server: simple, wantStatus: 503, wantFlags: "UF,URX",
			wantBody: "reset reason: connection failure, transport failure reason: tls: the server's certificate matches none of the subject alt names [db.example.test]"},
		{host: "mtls.example.test", server: mutual, wantStatus: 200, wantSNI: "mtls.example.test", wantCerts: n},
		{host: "nocert.example.test", server: mutual, wantStatus: 503, wantFlags: "UC", wantBody: "connection termination"},
	}
	for _, tc := range cases {
		t.Run(tc.host, func(t *testing.T) {
			before, certsBefore, sniBefore := tc.server.seen()
			for i := range n {
				status, _, body, err := get(c, "http://"+tc.host+"/", nil)
				if err != nil || status != tc.wantStatus {
					t.Fatalf("request %d: status %d, error %v, body %q; want %d", i, status, err, body, tc.wantStatus)
				}
				if status == 200 && string(body) != "tls "+tc.wantSNI {
					t.Fatalf("request %d: body %q, want %q", i, body, "tls "+tc.wantSNI)
				}
				if status == 503 && !strings.Contains(string(body), tc.wantBody) {
					t.Fatalf("request %d: body %q, want %q", i, body, tc.wantBody)
				}
			}
			after, certsAfter, sniAfter := tc.server.seen()
			wantRequests := 0
			if tc.wantStatus == 200 {
				wantRequests = n
			}
			if after-before != wantRequests {
				t.Errorf("the server answered %d requests over TLS, want %d", after-before, wantRequests)
			}
			if tc.wantSNI != "" && sniAfter[tc.wantSNI]-sniBefore[tc.wantSNI] != n {
				t.Errorf("requests with SNI %q: %d, want %d (all: %v)", tc.wantSNI, sniAfter[tc.wantSNI]-sniBefore[tc.wantSNI], n, sniAfter)
			}
			if certsAfter-certsBefore != tc.wantCerts {
				t.Errorf("requests with a client certificate: %d, want %d", certsAfter-certsBefore, tc.wantCerts)
			}
		})
	}

	// The client sidecar's metrics flag the failures.
	p, _ := m.state.Pod("halyard-exec")
	samples := scrape(t, p.AdminAddress)
	for _, tc := range cases {
		if tc.wantFlags == "" {
			continue
		}
		want := map[string]string{"destination_service": tc.host, "response_code": "503", "response_flags": tc.wantFlags}
		if got := sum(samples, "istio_requests_total", want); got != n {
			t.Errorf("istio_requests_total%v = %v, want %d", want, got, n)
		}
	}

	// A CA file that does not exist: the sidecar NACKs the clusters, with
	// the path in the error, and keeps serving its previous ones.
	missing := filepath.Join(dir, "missing-ca.pem")
	m.write("broken.yaml", externalService("broken", "broken.example.test", simple.port(), fmt.Sprintf("{mode: SIMPLE, caCertificates: %s}", missing)))
	var nack string
	waitFor(t, 15*time.Second, func() bool {
		var st []struct {
			ID    string `json:"id"`
			Types map[string]struct {
				NackError string `json:"nackError"`
			} `json:"types"`
		}
		mustJSON(t, []byte(httpGet(t, "http://"+m.state.AdminAddress+"/debug/syncz")), &st)
		for _, p := range st {
			if strings.Contains(p.ID, "halyard-exec") {
				nack = p.Types["CDS"].NackError
			}
		}
		return nack != ""
	})
	if !strings.Contains(nack, "outbound|80||broken.example.test") || !strings.Contains(nack, missing) {
		t.Errorf("CDS NACK %q, want the cluster and the missing file named", nack)
	}
	if status, _, body, err := get(c, "http://api.example.test/", nil); err != nil || status != 200 {
		t.Errorf("after the NACK: status %d, error %v, body %q; want 200 with the previous clusters", status, err, body)
	}
}
