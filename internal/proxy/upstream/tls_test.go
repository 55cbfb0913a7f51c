package upstream

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Minute),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestMutualTLSEndpoints: a cluster with TLS dials its MTLS endpoints over
// TLS, presenting its certificate (HTTP and TCP), and the others in
// plaintext.
func TestMutualTLSEndpoints(t *testing.T) {
	answer := func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) == 1 {
			io.WriteString(w, "mtls")
			return
		}
		io.WriteString(w, "plain")
	}
	secure := httptest.NewUnstartedServer(http.HandlerFunc(answer))
	secure.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	secure.StartTLS()
	defer secure.Close()
	plain := httptest.NewServer(http.HandlerFunc(answer))
	defer plain.Close()

	pool := x509.NewCertPool()
	pool.AddCert(secure.Certificate())
	client := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, RootCAs: pool, ServerName: "example.com"}
	m := testManager()
	defer m.Close()
	cfg := func(addr string, mtls bool) Config {
		return Config{Name: "c", Type: Static, ConnectTimeout: time.Second, TLS: &TLS{Config: client, Key: "k"},
			Endpoints: []EndpointConfig{{Address: addr, Weight: 1, MTLS: mtls}}}
	}
	if err := m.UpdateClusters([]Config{cfg(secure.Listener.Addr().String(), true)}); err != nil {
		t.Fatal(err)
	}
	c := m.Get("c")
	for range 3 {
		if got := send(t, c); got != "mtls" {
			t.Fatalf("MTLS endpoint answered %q, want mtls", got)
		}
	}
	conn, _, err := c.DialTCP(context.Background(), &PickRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := conn.(*tlsTCPConn); !ok {
		t.Fatalf("TCP connection to an MTLS endpoint is %T, want TLS", conn)
	}
	_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 5))
	conn.Close()
	if string(b) != "mtls" {
		t.Errorf("TCP over mutual TLS answered %q", b)
	}

	if err := m.UpdateClusters([]Config{cfg(plain.Listener.Addr().String(), false)}); err != nil {
		t.Fatal(err)
	}
	if got := send(t, m.Get("c")); got != "plain" {
		t.Errorf("endpoint without MTLS answered %q, want plain", got)
	}
}

// TestHostPrincipal: after a mutual-TLS handshake (HTTP pool or TCP) the
// host reports the SPIFFE ID its certificate carries; a host dialled in
// plaintext, or one whose cluster no longer has TLS, reports none.
func TestHostPrincipal(t *testing.T) {
	const id = "spiffe://cluster.local/ns/default/sa/reviews"
	u, _ := url.Parse(id)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		URIs: []*url.URL{u}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.StartTLS()
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	client := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, InsecureSkipVerify: true}
	m := testManager()
	defer m.Close()
	cfg := func(tlsOn, mtls bool) Config {
		c := Config{Name: "c", Type: Static, ConnectTimeout: time.Second, Endpoints: []EndpointConfig{{Address: addr, Weight: 1, MTLS: mtls}}}
		if tlsOn {
			c.TLS = &TLS{Config: client, Key: "k"}
		}
		return c
	}
	if err := m.UpdateClusters([]Config{cfg(true, true)}); err != nil {
		t.Fatal(err)
	}
	c := m.Get("c")
	if got := c.Hosts()[0].Principal(); got != "" {
		t.Fatalf("principal before any handshake %q, want none", got)
	}
	if got := send(t, c); got != "ok" {
		t.Fatalf("answered %q", got)
	}
	if got := c.Hosts()[0].Principal(); got != id {
		t.Errorf("principal after an HTTP request %q, want %s", got, id)
	}

	// A TCP connection's handshake records it too.
	conn, h, err := c.DialTCP(context.Background(), &PickRequest{})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if got := h.Principal(); got != id {
		t.Errorf("principal after a TCP handshake %q, want %s", got, id)
	}

	if err := m.UpdateClusters([]Config{cfg(false, true)}); err != nil {
		t.Fatal(err)
	}
	if got := m.Get("c").Hosts()[0].Principal(); got != "" {
		t.Errorf("principal with the cluster's TLS off %q, want none", got)
	}
	if err := m.UpdateClusters([]Config{cfg(true, false)}); err != nil {
		t.Fatal(err)
	}
	if got := m.Get("c").Hosts()[0].Principal(); got != "" {
		t.Errorf("principal of a plaintext endpoint %q, want none", got)
	}
}
