package ca

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSign(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := newTestCA(t, Options{Now: func() time.Time { return now }})
	key := p256(t)
	chain, err := a.Sign(csrFor(t, key, nil, testID.String()), testID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 2 {
		t.Fatalf("chain has %d certificates, want 2 (workload, root)", len(chain))
	}
	leaf := chain[0]
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "spiffe://cluster.local/ns/default/sa/reviews" {
		t.Errorf("URI SANs = %v", leaf.URIs)
	}
	if got := leaf.NotAfter.Sub(now); got != 24*time.Hour {
		t.Errorf("lifetime from now = %s, want 24h", got)
	}
	if !key.PublicKey.Equal(leaf.PublicKey) {
		t.Error("the certificate is not for the CSR's key")
	}
	if !chain[1].Equal(a.Roots()[0]) {
		t.Error("the chain does not end with the root")
	}
	roots := x509.NewCertPool()
	roots.AddCert(a.Roots()[0])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("verify: %v", err)
	}
	other, err := a.Sign(csrFor(t, key, nil, testID.String()), testID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if other[0].SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Error("two certificates share a serial number")
	}
}

func TestSignTTL(t *testing.T) {
	now := time.Now().Truncate(time.Second) // certificates carry whole seconds
	a := newTestCA(t, Options{WorkloadTTL: 4 * time.Second, MaxTTL: time.Hour, Now: func() time.Time { return now }})
	csr := csrFor(t, p256(t), nil, testID.String())
	for _, tc := range []struct{ ask, want time.Duration }{
		{0, 4 * time.Second}, {time.Minute, time.Minute}, {48 * time.Hour, time.Hour},
	} {
		chain, err := a.Sign(csr, testID, tc.ask)
		if err != nil {
			t.Fatal(err)
		}
		if got := chain[0].NotAfter.Sub(now); got != tc.want {
			t.Errorf("ask %s: lifetime %s, want %s", tc.ask, got, tc.want)
		}
	}
}

func TestSignRefusesBadCSRs(t *testing.T) {
	a := newTestCA(t, Options{})
	id := testID.String()
	rsaSmall, _ := rsa.GenerateKey(rand.Reader, 1024)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	good := csrFor(t, p256(t), nil, id)
	block, _ := pem.Decode(good)
	tampered := append([]byte(nil), block.Bytes...)
	tampered[len(tampered)-5] ^= 0xff // inside the signature
	for _, tc := range []struct {
		name   string
		csr    []byte
		is     error
		substr string
	}{
		{"garbage", []byte("not a csr"), ErrBadCSR, "no PEM block found"},
		{"wrong PEM type", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}), ErrBadCSR, `PEM block is "CERTIFICATE"`},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1, 2, 3}}), ErrBadCSR, "asn1"},
		{"two blocks", append(append([]byte(nil), good...), good...), ErrBadCSR, "more than one PEM block"},
		{"bad signature", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}), ErrBadCSR, "signature"},
		{"RSA 1024", csrFor(t, rsaSmall, nil, id), ErrBadCSR, "RSA key of 1024 bits is too small"},
		{"P-521", csrFor(t, p521, nil, id), ErrBadCSR, "ECDSA curve P-521 not allowed"},
		{"Ed25519", csrFor(t, edKey, nil, id), ErrBadCSR, "key type ed25519.PublicKey not allowed"},
		{"other identity", csrFor(t, p256(t), nil, "spiffe://cluster.local/ns/default/sa/ratings"), ErrIdentityMismatch, `asks for "spiffe://cluster.local/ns/default/sa/ratings"`},
		{"no identity", csrFor(t, p256(t), nil), ErrIdentityMismatch, "has 0 URI SANs"},
		{"two identities", csrFor(t, p256(t), nil, id, "spiffe://cluster.local/ns/x/sa/y"), ErrIdentityMismatch, "has 2 URI SANs"},
		{"DNS SAN", csrFor(t, p256(t), &x509.CertificateRequest{DNSNames: []string{"reviews"}}, id), ErrIdentityMismatch, "DNS, IP or email"},
		{"IP SAN", csrFor(t, p256(t), &x509.CertificateRequest{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}, id), ErrIdentityMismatch, "DNS, IP or email"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Sign(tc.csr, testID, 0)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.substr) || !strings.HasPrefix(err.Error(), "ca: ") {
				t.Fatalf("got %v, want an error wrapping %q containing %q", err, tc.is, tc.substr)
			}
		})
	}
}

func TestSignOtherTrustDomain(t *testing.T) {
	a := newTestCA(t, Options{TrustDomain: "example.org"})
	_, err := a.Sign(csrFor(t, p256(t), nil, testID.String()), testID, 0)
	if err == nil || !strings.Contains(err.Error(), `trust domain "cluster.local" is not this CA's ("example.org")`) {
		t.Fatalf("got %v", err)
	}
}

// BenchmarkSign measures the CA's signing throughput: parse and check a
// P-256 CSR, then issue and sign a certificate, on every core. csr/s is
// the wall-clock rate; cpu-us/csr is the process CPU time per CSR, which
// other load on a shared machine does not inflate.
func BenchmarkSign(b *testing.B) {
	a := newTestCA(b, Options{})
	csr := csrFor(b, p256(b), nil, testID.String())
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.Sign(csr, testID, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "csr/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-us/csr")
}

// cpuTime is the process's user + system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
