package listener

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// testPKI is a CA that issues SPIFFE certificates.
type testPKI struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testPKI{cert: cert, key: key, pool: pool}
}

func (p *testPKI) issue(t *testing.T, id string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(id)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), URIs: []*url.URL{u},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (p *testPKI) server(t *testing.T) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.issue(t, "spiffe://cluster.local/ns/default/sa/server")},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool, NextProtos: []string{"istio"}}
}

func (p *testPKI) client(t *testing.T, id string) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.issue(t, id)}, RootCAs: p.pool,
		InsecureSkipVerify: true, NextProtos: []string{"istio-peer-exchange", "istio"}}
}

// TestInboundMutualTLSTCP: an inbound tcp_proxy listener with
// DownstreamTLS terminates mutual TLS and, when PERMISSIVE, takes
// plaintext on the same port; STRICT closes plaintext, and a client
// certificate of another CA fails the handshake.
func TestInboundMutualTLSTCP(t *testing.T) {
	pki, other := newTestPKI(t), newTestPKI(t)
	backend := tagServer(t, "backend")
	inbound := func(name string, strict bool) Config {
		return Config{Name: name, Address: "127.0.0.1:0", BindToPort: true, Inbound: true,
			DownstreamTLS: &DownstreamTLS{Config: pki.server(t), AllowPlaintext: !strict},
			TCP:           &TCPProxy{Cluster: "backend"}}
	}
	w := newTCPWorld(t, map[string][]string{"backend": {backend}, "PassthroughCluster": nil}, nil,
		inbound("permissive", false), inbound("strict", true))

	read := func(c net.Conn) (string, error) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		return bufio.NewReader(c).ReadString('\n')
	}
	for _, name := range []string{"permissive", "strict"} {
		addr := w.m.Addr(name).String()
		c, err := tls.Dial("tcp", addr, pki.client(t, "spiffe://cluster.local/ns/default/sa/client"))
		if err != nil {
			t.Fatalf("%s: mutual TLS: %v", name, err)
		}
		if got, err := read(c); err != nil || got != "backend\n" {
			t.Errorf("%s: over mutual TLS got %q, %v", name, got, err)
		}
		if p := c.ConnectionState().NegotiatedProtocol; p != "istio" {
			t.Errorf("%s: ALPN %q, want istio", name, p)
		}
		c.Close()

		plain, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = plain.Write([]byte("hello\n"))
		got, err := read(plain)
		plain.Close()
		switch {
		case name == "permissive" && (err != nil || got != "backend\n"):
			t.Errorf("permissive: plaintext got %q, %v", got, err)
		case name == "strict" && err == nil:
			t.Errorf("strict: plaintext answered %q", got)
		}

		if c, err := tls.Dial("tcp", addr, other.client(t, "spiffe://cluster.local/ns/default/sa/client")); err == nil {
			_, rerr := read(c)
			c.Close()
			if rerr == nil {
				t.Errorf("%s: a certificate of another CA was accepted", name)
			}
		} else if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: another CA: %v, want a certificate error", name, err)
		}
	}
}

// TestDownstreamTLSAccept: the first byte decides; the peer's SPIFFE ID
// comes out of the handshake.
func TestDownstreamTLSAccept(t *testing.T) {
	pki := newTestPKI(t)
	d := &DownstreamTLS{Config: pki.server(t), AllowPlaintext: true}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		c := tls.Client(a, pki.client(t, "spiffe://cluster.local/ns/ns1/sa/sa1"))
		_ = c.Handshake()
		_, _ = c.Write([]byte("x"))
	}()
	conn, peer, err := d.accept(b)
	if err != nil {
		t.Fatal(err)
	}
	if peer != "spiffe://cluster.local/ns/ns1/sa/sa1" {
		t.Errorf("peer %q", peer)
	}
	buf := make([]byte, 1)
	if _, err := conn.Read(buf); err != nil || buf[0] != 'x' {
		t.Errorf("read %q, %v", buf, err)
	}

	mc := &mtlsConn{Conn: b, d: &DownstreamTLS{Config: pki.server(t)}}
	go func() { _, _ = a.Write([]byte("GET / HTTP/1.1\r\n")) }()
	if _, err := mc.Read(buf); err != errPlaintextRefused {
		t.Errorf("STRICT plaintext: %v, want %v", err, errPlaintextRefused)
	}
	if p, ok := mc.PeerPrincipal(); ok || p != "" {
		t.Errorf("refused connection has principal %q", p)
	}
}
