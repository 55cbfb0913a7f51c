package e2e

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// meshCA is the mesh's self-signed CA, read from the state directory, so
// that the test can mint workload certificates of its own.
type meshCA struct {
	cert *x509.Certificate
	key  any
	pool *x509.CertPool
}

func readMeshCA(t *testing.T, stateDir string) *meshCA {
	t.Helper()
	certPEM, err := os.ReadFile(filepath.Join(stateDir, "ca", "root-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(stateDir, "ca", "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		t.Fatal("mesh CA files are not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &meshCA{cert: cert, key: key, pool: pool}
}

// workloadTLS mints a certificate for a SPIFFE ID signed by (parent,
// parentKey) and returns a client config presenting it that trusts roots.
func workloadTLS(t *testing.T, id string, parent *x509.Certificate, parentKey any, roots *x509.CertPool) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(id)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), URIs: []*url.URL{u},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		RootCAs:      roots,
		// Sidecars' certificates carry only a SPIFFE ID: no host name to check.
		InsecureSkipVerify: true,
		NextProtos:         []string{"istio-peer-exchange", "istio", "istio-http/1.1"},
	}
}

// endpointOf returns the single endpoint address `halyard up` printed for
// a service (a sidecar's inbound address).
func endpointOf(t *testing.T, m *mesh, service string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(service) + `\s+\d+\s+\S+\s+\S+\s+(\S+)\s*$`)
	mm := re.FindStringSubmatch(m.log())
	if mm == nil {
		t.Fatalf("no endpoint of %s in the output:\n%s", service, m.log())
	}
	return mm[1]
}

// rawGet sends one HTTP/1.1 request over conn and returns the status code.
func rawGet(conn net.Conn, host string) (int, error) {
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET /ratings/0 HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host); err != nil {
		return 0, err
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}

func plaintextGet(addr string) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return rawGet(conn, "ratings:9080")
}

// tlsGet handshakes with cfg and sends one request; it returns the
// server's SPIFFE ID too.
func tlsGet(addr string, cfg *tls.Config) (int, string, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	var server string
	if pc := conn.ConnectionState().PeerCertificates; len(pc) > 0 && len(pc[0].URIs) == 1 {
		server = pc[0].URIs[0].String()
		if _, err := pc[0].Verify(x509.VerifyOptions{Roots: cfg.RootCAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return 0, server, fmt.Errorf("server certificate: %w", err)
		}
	}
	code, err := rawGet(conn, "ratings:9080")
	return code, server, err
}

// TestMutualTLS runs the demo: sidecars talk mutual TLS to each other
// (PERMISSIVE by default, so plaintext from outside the mesh still
// works); then a mesh-wide STRICT PeerAuthentication refuses plaintext and
// certificates of another CA while in-mesh clients go on.
func TestMutualTLS(t *testing.T) {
	m := startMesh(t, bookinfo())
	ca := readMeshCA(t, m.stateDir)
	c := m.client("halyard-exec")
	ratings := endpointOf(t, m, "ratings.default")
	const ratingsID = "spiffe://cluster.local/ns/default/sa/bookinfo-ratings"
	meshClient := workloadTLS(t, "spiffe://cluster.local/ns/default/sa/mtls-test", ca.cert, ca.key, ca.pool)
	otherRoot, otherKey := makeCACert(t, "another root", 7, nil, nil)
	foreign := workloadTLS(t, "spiffe://cluster.local/ns/default/sa/mtls-test", otherRoot, otherKey, ca.pool)

	t.Run("sidecar to sidecar is mutual TLS", func(t *testing.T) {
		const n = 20
		for range n {
			if code, _, _, err := get(c, "http://ratings:9080/ratings/0", nil); err != nil || code != 200 {
				t.Fatalf("ratings through the mesh: %d, %v", code, err)
			}
		}
		p, _ := m.state.Pod(firstPod(t, m, "ratings-v1"))
		got := sum(scrape(t, p.AdminAddress), "istio_requests_total", map[string]string{
			"reporter": "destination", "source_workload": "halyard-exec",
			"connection_security_policy": "mutual_tls",
			"source_principal":           "spiffe://cluster.local/ns/default/sa/default",
			"destination_principal":      ratingsID,
		})
		if got != n {
			t.Errorf("ratings' sidecar counted %v mutual-TLS requests from halyard-exec's sidecar, want %d", got, n)
		}
		exec, _ := m.state.Pod("halyard-exec")
		got = sum(scrape(t, exec.AdminAddress), "istio_requests_total", map[string]string{
			"reporter": "source", "destination_workload": "ratings-v1",
			"source_principal":      "spiffe://cluster.local/ns/default/sa/default",
			"destination_principal": ratingsID,
		})
		if got != n {
			t.Errorf("halyard-exec's sidecar counted %v requests to ratings with both principals, want %d", got, n)
		}
	})

	t.Run("the wire to a sidecar is TLS", func(t *testing.T) {
		// A relay in front of ratings' inbound address records the bytes
		// sent there by a client with a workload certificate of the mesh
		// (the test itself, speaking as a client sidecar does: the sidecars
		// take their endpoints from EDS, which the test cannot point at
		// the relay).
		relay := startRelay(t, ratings)
		code, server, err := tlsGet(relay.addr, meshClient)
		if err != nil || code != 200 || server != ratingsID {
			t.Fatalf("mutual TLS through the relay: %d from %q, %v", code, server, err)
		}
		up := relay.upstreamBytes()
		if len(up) < 3 || up[0] != 0x16 || up[1] != 0x03 {
			t.Fatalf("first bytes on the wire %x, want a TLS handshake record (16 03 ..)", up[:min(len(up), 8)])
		}
		if bytes.Contains(up, []byte("HTTP/1.1")) || bytes.Contains(up, []byte("/ratings/0")) {
			t.Fatal("the request is readable on the wire")
		}
		t.Logf("%d bytes relayed to ratings' sidecar, starting %x", len(up), up[:5])
	})

	t.Run("PERMISSIVE: plaintext from outside the mesh works", func(t *testing.T) {
		if code, err := plaintextGet(ratings); err != nil || code != 200 {
			t.Fatalf("plaintext to ratings' sidecar: %d, %v", code, err)
		}
	})

	t.Run("STRICT", func(t *testing.T) {
		m.write("strict.yaml", `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istio-system
spec:
  mtls: {mode: STRICT}
`)
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, err := plaintextGet(ratings)
			if err != nil {
				t.Logf("plaintext refused: %v", err)
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("plaintext to ratings' sidecar still answered 20s after the STRICT policy")
			}
			time.Sleep(100 * time.Millisecond)
		}
		for range 5 {
			if code, err := plaintextGet(ratings); err == nil {
				t.Fatalf("plaintext under STRICT answered %d", code)
			}
		}
		if _, _, err := tlsGet(ratings, foreign); err == nil {
			t.Fatal("a certificate of another CA was accepted")
		} else {
			t.Logf("another CA's certificate refused: %v", err)
		}
		code, server, err := tlsGet(ratings, meshClient)
		if err != nil || code != 200 || server != ratingsID {
			t.Fatalf("mesh certificate under STRICT: %d from %q, %v", code, server, err)
		}
		for range 10 {
			if code, _, _, err := get(c, "http://ratings:9080/ratings/0", nil); err != nil || code != 200 {
				t.Fatalf("in-mesh client under STRICT: %d, %v", code, err)
			}
		}
		if code, _, _, err := get(c, "http://productpage:9080/productpage", nil); err != nil || code != 200 {
			t.Fatalf("productpage (calls reviews, ratings, details) under STRICT: %d, %v", code, err)
		}
	})
}

// firstPod returns the first pod of a workload.
func firstPod(t *testing.T, m *mesh, workload string) string {
	t.Helper()
	for _, p := range m.state.Pods {
		if p.Workload == workload {
			return p.Name
		}
	}
	t.Fatalf("no pod of %s", workload)
	return ""
}

// relay is a TCP relay that records what goes upstream.
type relay struct {
	addr string
	mu   sync.Mutex
	up   []byte
}

func (r *relay) upstreamBytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.up)
}

func (r *relay) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.up = append(r.up, p...)
	r.mu.Unlock()
	return len(p), nil
}

// startRelay relays connections to target until the test ends.
func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer down.Close()
				up, err := net.DialTimeout("tcp", target, 5*time.Second)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{})
				go func() {
					defer close(done)
					_, _ = io.Copy(down, up)
					_ = down.Close()
				}()
				_, _ = io.Copy(io.MultiWriter(up, r), down)
				_ = up.(*net.TCPConn).CloseWrite()
				<-done
			})
		}
	})
	return r
}

// TestMutualTLSTransparent: with transparent capture too, an unmodified
// curl in one pod reaches another pod's app over mutual TLS between the
// two sidecars.
func TestMutualTLSTransparent(t *testing.T) {
	m, _ := startTransparent(t, map[string]string{"reviews.yaml": reviewsTransparent})
	const n = 20
	out, err := m.inPod("", fmt.Sprintf(`for i in $(seq %d); do curl -s -m 5 -o /dev/null -w '%%{http_code}\n' http://reviews:9080/; done`, n))
	if err != nil {
		t.Fatalf("halyard exec: %v\n%s", err, out)
	}
	if ok := strings.Count(out, "200"); ok != n {
		t.Fatalf("%d of %d requests answered 200:\n%s", ok, n, out)
	}
	var got float64
	for _, p := range m.state.Pods {
		if !strings.HasPrefix(p.Workload, "reviews-") {
			continue
		}
		got += sum(scrape(t, p.AdminAddress), "istio_requests_total", map[string]string{
			"reporter": "destination", "source_workload": "halyard-exec",
			"connection_security_policy": "mutual_tls",
			"source_principal":           "spiffe://cluster.local/ns/default/sa/default",
			"destination_principal":      "spiffe://cluster.local/ns/default/sa/default",
		})
	}
	if got != n {
		t.Errorf("reviews' sidecars counted %v mutual-TLS requests from halyard-exec, want %d", got, n)
	}
}
