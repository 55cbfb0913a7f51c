package compile

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

// TLS origination: a cluster's own transport_socket (a DestinationRule's
// tls SIMPLE or MUTUAL) dials every endpoint with an UpstreamTlsContext
// whose certificates, keys and roots are DataSources (files on this
// machine, or inline). They are read here, at compile time: a file that
// cannot be read NACKs the cluster.

// originationTLS compiles a cluster's transport_socket.
func originationTLS(ts *corev3.TransportSocket) (*upstream.TLS, error) {
	if ts.GetName() == rawBufferTransportSocket {
		return nil, nil
	}
	if ts.GetName() != tlsTransportSocket || ts.GetTypedConfig().GetTypeUrl() != upstreamTLSType {
		return nil, fmt.Errorf("transport_socket must be %s with an UpstreamTlsContext, or %s", tlsTransportSocket, rawBufferTransportSocket)
	}
	ctx := &tlsv3.UpstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
		return nil, fmt.Errorf("transport_socket: %w", err)
	}
	t, err := originationConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("transport_socket: %w", err)
	}
	return t, nil
}

// origination is what an UpstreamTlsContext asks for, read in.
type origination struct {
	sum      *keySum
	sni      string
	alpn     []string
	certs    []tls.Certificate
	verify   bool
	roots    *x509.CertPool // nil with verify: the system's roots
	matchers []sanMatcher
}

func originationConfig(ctx *tlsv3.UpstreamTlsContext) (*upstream.TLS, error) {
	c := ctx.GetCommonTlsContext()
	if len(c.GetTlsCertificateSdsSecretConfigs()) > 0 || c.GetCombinedValidationContext() != nil || c.GetValidationContextSdsSecretConfig() != nil {
		return nil, errors.New("SDS secrets are only supported for Istio's auto mutual TLS (transport_socket_matches)")
	}
	o := &origination{sum: newKeySum(), sni: ctx.GetSni(), alpn: c.GetAlpnProtocols()}
	o.sum.add("sni", o.sni, "alpn", strings.Join(o.alpn, ","))
	for i, tc := range c.GetTlsCertificates() {
		cert, err := o.certificate(tc)
		if err != nil {
			return nil, fmt.Errorf("tls_certificates[%d]: %w", i, err)
		}
		o.certs = append(o.certs, cert)
	}
	if vc := c.GetValidationContext(); vc != nil {
		if err := o.validation(vc); err != nil {
			return nil, fmt.Errorf("validation_context: %w", err)
		}
	}
	return &upstream.TLS{Config: o.config(), Key: o.sum.String(), AllHosts: true}, nil
}

func (o *origination) certificate(tc *tlsv3.TlsCertificate) (tls.Certificate, error) {
	if tc.GetPrivateKeyProvider() != nil || tc.GetPkcs12() != nil || tc.GetWatchedDirectory() != nil || tc.GetPassword() != nil {
		return tls.Certificate{}, errors.New("only certificate_chain and private_key are supported")
	}
	chain, err := o.read("certificate_chain", tc.GetCertificateChain())
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := o.read("private_key", tc.GetPrivateKey())
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(chain, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate_chain %s and private_key %s: %w",
			describe(tc.GetCertificateChain()), describe(tc.GetPrivateKey()), err)
	}
	return cert, nil
}

func (o *origination) validation(vc *tlsv3.CertificateValidationContext) error {
	if len(vc.GetVerifyCertificateSpki()) > 0 || len(vc.GetVerifyCertificateHash()) > 0 || vc.GetCrl() != nil ||
		vc.GetCustomValidatorConfig() != nil || vc.GetCaCertificateProviderInstance() != nil {
		return errors.New("only trusted_ca, system_root_certs and subject alt name matchers are supported")
	}
	o.verify = true
	o.sum.add("verify")
	if vc.GetTrustedCa() != nil {
		pem, err := o.read("trusted_ca", vc.GetTrustedCa())
		if err != nil {
			return err
		}
		o.roots = x509.NewCertPool()
		if !o.roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("trusted_ca %s: no PEM certificate", describe(vc.GetTrustedCa()))
		}
	} else if vc.GetSystemRootCerts() == nil {
		return errors.New("trusted_ca or system_root_certs is required")
	}
	ms, err := sanMatchers(vc)
	if err != nil {
		return err
	}
	o.matchers = ms
	for _, m := range ms {
		o.sum.add("san", m.typ.String(), m.exact)
	}
	return nil
}

// read returns a DataSource's bytes (a file's contents, read now, or
// inline bytes) and adds them to the key.
func (o *origination) read(field string, ds *corev3.DataSource) ([]byte, error) {
	var b []byte
	switch s := ds.GetSpecifier().(type) {
	case *corev3.DataSource_Filename:
		var err error
		if b, err = os.ReadFile(s.Filename); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
	case *corev3.DataSource_InlineBytes:
		b = s.InlineBytes
	case *corev3.DataSource_InlineString:
		b = []byte(s.InlineString)
	default:
		return nil, fmt.Errorf("%s: a filename, inline_bytes or inline_string is required", field)
	}
	o.sum.add(field, string(b))
	return b, nil
}

func describe(ds *corev3.DataSource) string {
	if f := ds.GetFilename(); f != "" {
		return f
	}
	return "(inline)"
}

// config is the client tls.Config. Verification is done by hand: the
// chain against the roots, then the SANs against the matchers, as Envoy
// does (not the host name, which Envoy checks only through SANs).
func (o *origination) config() *tls.Config {
	cfg := &tls.Config{
		ServerName:         o.sni,
		NextProtos:         slices.Clone(o.alpn),
		Certificates:       o.certs,
		InsecureSkipVerify: true, // verified in VerifyConnection when o.verify
		MinVersion:         tls.VersionTLS12,
	}
	if o.verify {
		roots, matchers := o.roots, o.matchers
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyServer(cs.PeerCertificates, roots, matchers)
		}
	}
	return cfg
}

func verifyServer(certs []*x509.Certificate, roots *x509.CertPool, matchers []sanMatcher) error {
	if len(certs) == 0 {
		return errors.New("the server sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return err
	}
	if len(matchers) == 0 || slices.ContainsFunc(matchers, func(m sanMatcher) bool { return m.match(certs[0]) }) {
		return nil
	}
	return fmt.Errorf("the server's certificate matches none of the subject alt names %s", matcherList(matchers))
}

// sanMatcher is an exact subject alt name matcher; typ is SAN_TYPE_UNSPECIFIED
// for match_subject_alt_names, which match a SAN of any type.
type sanMatcher struct {
	typ   tlsv3.SubjectAltNameMatcher_SanType
	exact string
}

func sanMatchers(vc *tlsv3.CertificateValidationContext) ([]sanMatcher, error) {
	var out []sanMatcher
	for _, m := range vc.GetMatchSubjectAltNames() {
		if m.GetExact() == "" || m.GetIgnoreCase() {
			return nil, errors.New("match_subject_alt_names: only exact values are supported")
		}
		out = append(out, sanMatcher{exact: m.GetExact()})
	}
	for _, m := range vc.GetMatchTypedSubjectAltNames() {
		switch m.GetSanType() {
		case tlsv3.SubjectAltNameMatcher_DNS, tlsv3.SubjectAltNameMatcher_URI,
			tlsv3.SubjectAltNameMatcher_EMAIL, tlsv3.SubjectAltNameMatcher_IP_ADDRESS:
		default:
			return nil, fmt.Errorf("match_typed_subject_alt_names: san_type %s is not supported", m.GetSanType())
		}
		if m.GetMatcher().GetExact() == "" || m.GetMatcher().GetIgnoreCase() {
			return nil, errors.New("match_typed_subject_alt_names: only exact values are supported")
		}
		out = append(out, sanMatcher{typ: m.GetSanType(), exact: m.GetMatcher().GetExact()})
	}
	return out, nil
}

// match reports whether the certificate has a SAN the matcher accepts. A
// DNS SAN is matched as a DNS name: "*.example.com" in the certificate
// covers one label, as Envoy's dnsNameMatch.
func (m sanMatcher) match(c *x509.Certificate) bool {
	anyType := m.typ == tlsv3.SubjectAltNameMatcher_SAN_TYPE_UNSPECIFIED
	if anyType || m.typ == tlsv3.SubjectAltNameMatcher_DNS {
		if slices.ContainsFunc(c.DNSNames, func(san string) bool { return dnsNameMatch(m.exact, san) }) {
			return true
		}
	}
	if anyType || m.typ == tlsv3.SubjectAltNameMatcher_URI {
		if slices.ContainsFunc(c.URIs, func(u *url.URL) bool { return u.String() == m.exact }) {
			return true
		}
	}
	if anyType || m.typ == tlsv3.SubjectAltNameMatcher_EMAIL {
		if slices.Contains(c.EmailAddresses, m.exact) {
			return true
		}
	}
	if anyType || m.typ == tlsv3.SubjectAltNameMatcher_IP_ADDRESS {
		want := net.ParseIP(m.exact)
		return want != nil && slices.ContainsFunc(c.IPAddresses, want.Equal)
	}
	return false
}

func dnsNameMatch(name, san string) bool {
	name, san = strings.ToLower(name), strings.ToLower(san)
	if name == san {
		return true
	}
	suffix, ok := strings.CutPrefix(san, "*")
	if !ok || !strings.HasPrefix(suffix, ".") {
		return false
	}
	label, rest, ok := strings.Cut(name, ".")
	return ok && label != "" && "."+rest == suffix
}

func matcherList(ms []sanMatcher) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.exact
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// keySum hashes an origination's settings and file contents into its
// upstream.TLS.Key: new contents make new connection pools.
type keySum struct{ h hash.Hash }

func newKeySum() *keySum { return &keySum{h: sha256.New()} }

func (k *keySum) add(parts ...string) {
	for _, p := range parts {
		k.h.Write([]byte(p))
		k.h.Write([]byte{0})
	}
}

func (k *keySum) String() string {
	return "origination:" + hex.EncodeToString(k.h.Sum(nil)[:16])
}
