package compile

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

// testCA is a certificate authority made for a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkixName(name), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a leaf for the DNS names and URIs, returning it and its key
// in PEM.
func (ca *testCA) issue(t *testing.T, usage x509.ExtKeyUsage, dns []string, uris ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkixName("leaf"), DNSNames: dns,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage},
		KeyUsage: x509.KeyUsageDigitalSignature}
	for _, u := range uris {
		pu, _ := url.Parse(u)
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

// tlsServer is an HTTPS server that records the SNI and the client
// certificate of each request.
type tlsServer struct {
	*httptest.Server
	mu        sync.Mutex
	sni       []string
	withCerts int
	h2        int // requests over HTTP/2
}

func startTLSServer(t *testing.T, ca *testCA, clientCA *testCA, dns ...string) *tlsServer {
	t.Helper()
	certPEM, keyPEM := ca.issue(t, x509.ExtKeyUsageServerAuth, dns, "spiffe://example.com/api")
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.sni = append(s.sni, r.TLS.ServerName)
		if len(r.TLS.PeerCertificates) > 0 {
			s.withCerts++
		}
		if r.ProtoMajor == 2 {
			s.h2++
		}
		s.mu.Unlock()
		io.WriteString(w, "tls")
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are expected
	if clientCA != nil {
		pool := x509.NewCertPool()
		pool.AddCert(clientCA.cert)
		s.TLS.ClientCAs, s.TLS.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	s.EnableHTTP2 = true
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func fileDS(p string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: p}}
}

// originationCluster is a static cluster to addr whose transport_socket
// is ctx.
func originationCluster(t *testing.T, addr string, ctx *tlsv3.UpstreamTlsContext) *clusterv3.Cluster {
	t.Helper()
	a, err := anypb.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr)
	c := staticCluster("c", host, port)
	c.TransportSocket = &corev3.TransportSocket{Name: tlsTransportSocket, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}
	return c
}

func get(c *upstream.Cluster) (string, error) {
	req, _ := http.NewRequest("GET", "http://"+c.Pick(nil).Address+"/", nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestOrigination: a cluster's transport_socket dials its endpoints over
// TLS with the files it names: the server is verified against
// trusted_ca and the SAN matchers, SNI is sent, MUTUAL presents the
// client certificate, over HTTP and TCP proxying.
func TestOrigination(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA, otherCA := newTestCA(t, "server-ca"), newTestCA(t, "client-ca"), newTestCA(t, "other-ca")
	caFile := writeFile(t, dir, "ca.pem", serverCA.pem)
	otherFile := writeFile(t, dir, "other.pem", otherCA.pem)
	certPEM, keyPEM := clientCA.issue(t, x509.ExtKeyUsageClientAuth, nil, "spiffe://example.com/client")
	certFile, keyFile := writeFile(t, dir, "client.pem", certPEM), writeFile(t, dir, "client-key.pem", keyPEM)

	simple := startTLSServer(t, serverCA, nil, "*.example.com")
	mutual := startTLSServer(t, serverCA, clientCA, "api.example.com")

	validation := func(ca string, sans ...*matcherv3.StringMatcher) *tlsv3.CommonTlsContext {
		return &tlsv3.CommonTlsContext{ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{
			ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: fileDS(ca), MatchSubjectAltNames: sans}}}
	}
	exact := func(s string) *matcherv3.StringMatcher {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
	}
	dnsSAN := func(s string) *tlsv3.CommonTlsContext {
		c := validation(caFile)
		c.GetValidationContext().MatchTypedSubjectAltNames = []*tlsv3.SubjectAltNameMatcher{{SanType: tlsv3.SubjectAltNameMatcher_DNS, Matcher: exact(s)}}
		return c
	}
	withCert := func(c *tlsv3.CommonTlsContext) *tlsv3.CommonTlsContext {
		c.TlsCertificates = []*tlsv3.TlsCertificate{{CertificateChain: fileDS(certFile), PrivateKey: fileDS(keyFile)}}
		return c
	}
	cases := []struct {
		name    string
		server  *tlsServer
		ctx     *tlsv3.UpstreamTlsContext
		wantErr string // "" for success
		wantSNI string
		lateErr bool // the server fails the handshake after the client's side
	}{
		{name: "SIMPLE with a CA file and SNI", server: simple,
			ctx: &tlsv3.UpstreamTlsContext{Sni: "edge.example.com", CommonTlsContext: validation(caFile)}, wantSNI: "edge.example.com"},
		{name: "wildcard certificate matches a DNS SAN", server: simple,
			ctx: &tlsv3.UpstreamTlsContext{Sni: "api.example.com", CommonTlsContext: dnsSAN("api.example.com")}, wantSNI: "api.example.com"},
		{name: "URI SAN matches", server: simple,
			ctx: &tlsv3.UpstreamTlsContext{CommonTlsContext: validation(caFile, exact("other"), exact("spiffe://example.com/api"))}},
		{name: "wrong CA", server: simple,
			ctx:     &tlsv3.UpstreamTlsContext{CommonTlsContext: validation(otherFile)},
			wantErr: "certificate signed by unknown authority"},
		{name: "SAN mismatch", server: simple,
			ctx:     &tlsv3.UpstreamTlsContext{CommonTlsContext: validation(caFile, exact("db.example.org"), exact("spiffe://example.com/db"))},
			wantErr: "matches none of the subject alt names [db.example.org, spiffe://example.com/db]"},
		{name: "DNS SAN two labels below the wildcard", server: simple,
			ctx: &tlsv3.UpstreamTlsContext{CommonTlsContext: dnsSAN("a.b.example.com")}, wantErr: "matches none"},
		{name: "no validation context: not verified", server: simple,
			ctx: &tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{}}},
		{name: "MUTUAL presents the client certificate", server: mutual,
			ctx: &tlsv3.UpstreamTlsContext{Sni: "api.example.com", CommonTlsContext: withCert(validation(caFile))}, wantSNI: "api.example.com"},
		// With TLS 1.3 the server rejects the missing certificate after the
		// client's handshake: a TCP connection fails at its first read.
		{name: "SIMPLE to a server requiring a client certificate", server: mutual,
			ctx: &tlsv3.UpstreamTlsContext{CommonTlsContext: validation(caFile)}, wantErr: "certificate required", lateErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfgs, _, err := Clusters([]*clusterv3.Cluster{originationCluster(t, tc.server.Listener.Addr().String(), tc.ctx)})
			if err != nil {
				t.Fatal(err)
			}
			if cfgs[0].TLS == nil || !cfgs[0].TLS.AllHosts {
				t.Fatalf("cluster TLS %+v, want origination for every host", cfgs[0].TLS)
			}
			m := upstream.NewManager(slog.New(slog.DiscardHandler))
			defer m.Close()
			if err := m.UpdateClusters(cfgs); err != nil {
				t.Fatal(err)
			}
			tc.server.mu.Lock()
			before, certsBefore := len(tc.server.sni), tc.server.withCerts
			tc.server.mu.Unlock()
			body, err := get(m.Get("c"))
			checkOutcome(t, "HTTP", body, err, tc.wantErr, !tc.lateErr)
			body, err = tcpGet(m.Get("c"))
			checkOutcome(t, "TCP", body, err, tc.wantErr, !tc.lateErr)
			if tc.wantErr != "" {
				return
			}
			tc.server.mu.Lock()
			defer tc.server.mu.Unlock()
			if n := len(tc.server.sni) - before; n != 2 {
				t.Fatalf("server saw %d requests, want 2", n)
			}
			if got := tc.server.sni[len(tc.server.sni)-1]; got != tc.wantSNI {
				t.Errorf("SNI %q, want %q", got, tc.wantSNI)
			}
			if tc.server == mutual && tc.server.withCerts-certsBefore != 2 {
				t.Errorf("%d requests with a client certificate, want 2", tc.server.withCerts-certsBefore)
			}
		})
	}
}

func checkOutcome(t *testing.T, what, body string, err error, wantErr string, dialErr bool) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("%s: %v", what, err)
	case wantErr == "" && body != "tls":
		t.Fatalf("%s: answered %q, want tls", what, body)
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Fatalf("%s: error %v, want one containing %q", what, err, wantErr)
	case wantErr != "":
		var de *upstream.DialError
		if dialErr && !errors.As(err, &de) {
			t.Errorf("TCP: error %T, want a *upstream.DialError (UF)", err)
		}
	}
}

// tcpGet sends one HTTP/1.1 request over a TCP proxy connection.
func tcpGet(c *upstream.Cluster) (string, error) {
	conn, _, err := c.DialTCP(context.Background(), &upstream.PickRequest{})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		return "", err
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}

// TestOriginationFiles: files that cannot be read or do not fit NACK the
// cluster with the path in the error; new contents change the pool key.
func TestOriginationFiles(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "ca")
	caFile := writeFile(t, dir, "ca.pem", ca.pem)
	certPEM, keyPEM := ca.issue(t, x509.ExtKeyUsageClientAuth, nil)
	certFile, keyFile := writeFile(t, dir, "c.pem", certPEM), writeFile(t, dir, "k.pem", keyPEM)
	_, otherKey := ca.issue(t, x509.ExtKeyUsageClientAuth, nil)
	otherKeyFile := writeFile(t, dir, "other-k.pem", otherKey)
	notPEM := writeFile(t, dir, "garbage.pem", []byte("not a certificate"))
	ctx := func(ca, cert, key string) *tlsv3.UpstreamTlsContext {
		c := &tlsv3.CommonTlsContext{ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{
			ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: fileDS(ca)}}}
		if cert != "" {
			c.TlsCertificates = []*tlsv3.TlsCertificate{{CertificateChain: fileDS(cert), PrivateKey: fileDS(key)}}
		}
		return &tlsv3.UpstreamTlsContext{CommonTlsContext: c}
	}
	for _, tc := range []struct {
		name string
		ctx  *tlsv3.UpstreamTlsContext
		want string
	}{
		{"missing CA file", ctx(filepath.Join(dir, "nope.pem"), "", ""), `cluster "c": transport_socket: validation_context: trusted_ca: open ` + filepath.Join(dir, "nope.pem") + ": no such file or directory"},
		{"CA file without a certificate", ctx(notPEM, "", ""), "trusted_ca " + notPEM + ": no PEM certificate"},
		{"missing key", ctx(caFile, certFile, filepath.Join(dir, "nokey.pem")), "tls_certificates[0]: private_key: open " + filepath.Join(dir, "nokey.pem")},
		{"key of another certificate", ctx(caFile, certFile, otherKeyFile), "certificate_chain " + certFile + " and private_key " + otherKeyFile + ": tls: private key does not match public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Clusters([]*clusterv3.Cluster{originationCluster(t, "127.0.0.1:1", tc.ctx)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}

	key := func() string {
		cfgs, _, err := Clusters([]*clusterv3.Cluster{originationCluster(t, "127.0.0.1:1", ctx(caFile, certFile, keyFile))})
		if err != nil {
			t.Fatal(err)
		}
		return cfgs[0].TLS.Key
	}
	k1, k2 := key(), key()
	if k1 != k2 {
		t.Fatalf("same files, keys %q and %q", k1, k2)
	}
	writeFile(t, dir, "ca.pem", newTestCA(t, "new").pem)
	if k3 := key(); k3 == k1 {
		t.Errorf("new CA file contents kept the key %q", k3)
	}
}

func pkixName(cn string) pkix.Name { return pkix.Name{CommonName: cn} }

// staticCluster is a STATIC cluster with one endpoint.
func staticCluster(name, host, port string) *clusterv3.Cluster {
	p, _ := strconv.Atoi(port)
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(2 * time.Second),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p)}}}},
			}}}},
		}}},
	}
}

// localizeFiles points the filename data sources of the clusters'
// transport sockets at files made for the test, by base name: "*key*" a
// private key, "client*" its certificate, anything else a CA bundle.
func localizeFiles(t *testing.T, cs []*clusterv3.Cluster) {
	t.Helper()
	dir := t.TempDir()
	ca := newTestCA(t, "ca")
	certPEM, keyPEM := ca.issue(t, x509.ExtKeyUsageClientAuth, nil)
	local := func(ds *corev3.DataSource) {
		name := filepath.Base(ds.GetFilename())
		if ds.GetFilename() == "" {
			return
		}
		content := ca.pem
		switch {
		case strings.Contains(name, "key"):
			content = keyPEM
		case strings.HasPrefix(name, "client"):
			content = certPEM
		}
		ds.Specifier = &corev3.DataSource_Filename{Filename: writeFile(t, dir, name, content)}
	}
	for _, c := range cs {
		ts := c.GetTransportSocket()
		if ts.GetTypedConfig().GetTypeUrl() != upstreamTLSType {
			continue
		}
		ctx := &tlsv3.UpstreamTlsContext{}
		if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
			t.Fatal(err)
		}
		common := ctx.GetCommonTlsContext()
		for _, tc := range common.GetTlsCertificates() {
			local(tc.GetCertificateChain())
			local(tc.GetPrivateKey())
		}
		if vc := common.GetValidationContext(); vc.GetTrustedCa() != nil {
			local(vc.GetTrustedCa())
		}
		a, err := anypb.New(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ts.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: a}
	}
}

// TestOriginationHTTP2: an HTTP/2 cluster with ALPN h2 speaks HTTP/2
// inside the originated TLS (the http.Transport path).
func TestOriginationHTTP2(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "ca")
	caFile := writeFile(t, dir, "ca.pem", ca.pem)
	srv := startTLSServer(t, ca, nil, "api.example.com")
	ctx := &tlsv3.UpstreamTlsContext{Sni: "api.example.com", CommonTlsContext: &tlsv3.CommonTlsContext{
		AlpnProtocols: []string{"h2"},
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{
			ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: fileDS(caFile)}}}}
	c := originationCluster(t, srv.Listener.Addr().String(), ctx)
	opts, err := anypb.New(&httpv3.HttpProtocolOptions{UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
		ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}}}}})
	if err != nil {
		t.Fatal(err)
	}
	c.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptionsKey: opts}
	cfgs, _, err := Clusters([]*clusterv3.Cluster{c})
	if err != nil {
		t.Fatal(err)
	}
	if cfgs[0].Protocol != upstream.H2C {
		t.Fatalf("protocol %v, want HTTP/2", cfgs[0].Protocol)
	}
	m := upstream.NewManager(slog.New(slog.DiscardHandler))
	defer m.Close()
	if err := m.UpdateClusters(cfgs); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if body, err := get(m.Get("c")); err != nil || body != "tls" {
			t.Fatalf("request %d: %q, %v", i, body, err)
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.h2 != 3 {
		t.Errorf("%d of 3 requests over HTTP/2", srv.h2)
	}
}
