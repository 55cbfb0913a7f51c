package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"sync"
	"time"
)

// serverCertTTL is the lifetime of the CA endpoint's own certificate; it is
// renewed in memory at half its lifetime.
const serverCertTTL = 30 * 24 * time.Hour

// ServerTLSConfig returns the TLS config of the CA's gRPC endpoint: a
// certificate for hosts (DNS names or IP addresses) signed by this CA and
// renewed at half its lifetime.
func (a *Authority) ServerTLSConfig(hosts []string) *tls.Config {
	s := &serverCerts{a: a, hosts: hosts}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.get, NextProtos: []string{"h2"}}
}

type serverCerts struct {
	a     *Authority
	hosts []string

	mu   sync.Mutex
	cert *tls.Certificate
}

func (s *serverCerts) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.a.now()
	if c := s.cert; c != nil && now.Before(c.Leaf.NotBefore.Add(c.Leaf.NotAfter.Sub(c.Leaf.NotBefore)/2)) {
		return c, nil
	}
	c, err := s.a.issueServer(s.hosts)
	if err != nil {
		return nil, err
	}
	s.cert = c
	return c, nil
}

func (a *Authority) issueServer(hosts []string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca: server key: %w", err)
	}
	now := a.now()
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: "halyard-ca"},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(serverCertTTL),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotAfter.After(a.cert.NotAfter) {
		tmpl.NotAfter = a.cert.NotAfter
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.signer)
	if err != nil {
		return nil, fmt.Errorf("ca: server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: server certificate: %w", err)
	}
	chain := [][]byte{der}
	for _, c := range a.chain {
		if c.CheckSignatureFrom(c) != nil { // intermediates; clients have the root
			chain = append(chain, c.Raw)
		}
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}
