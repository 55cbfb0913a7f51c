package xds

import (
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/halyard-mesh/halyard/internal/registry"
)

// TLS origination: a DestinationRule's tls with mode SIMPLE or MUTUAL
// gives the cluster a transport_socket (envoy.transport_sockets.tls,
// UpstreamTlsContext) for every endpoint, in place of auto mutual TLS.
// Certificates, keys and CA bundles are files on the proxy's machine,
// named by inline filename DataSources; the proxy reads them when it
// compiles the cluster.

// originatesTLS reports whether the policy's tls originates TLS with the
// user's own settings.
func originatesTLS(p *networking.TrafficPolicy) bool {
	switch p.GetTls().GetMode() {
	case networking.ClientTLSSettings_SIMPLE, networking.ClientTLSSettings_MUTUAL:
		return true
	}
	return false
}

// originationSocket is the cluster's transport_socket for a SIMPLE or
// MUTUAL tls setting, as Istio builds it:
//
//   - sni is tls.sni, else the service's host (Istio sets SNI from the
//     request's Host; a Halyard cluster serves one host, so it is that
//     host). A wildcard host gets no SNI.
//   - The server is verified against tls.caCertificates (trusted_ca
//     filename), else the system's roots (system_root_certs), unless
//     insecureSkipVerify (no validation context at all). Its SANs must
//     match tls.subjectAltNames, else the ServiceEntry's
//     subjectAltNames; with neither and no tls.sni, the host as a DNS
//     name (Istio's auto SAN validation).
//   - MUTUAL presents tls.clientCertificate and tls.privateKey.
//   - ALPN is h2 for an HTTP/2 cluster (Istio's ALPNH2Only), else unset.
func originationSocket(t *networking.ClientTLSSettings, svc *registry.Service, h2 bool) *core.TransportSocket {
	host := svc.Hostname
	if strings.Contains(host, "*") {
		host = ""
	}
	common := &tlsv3.CommonTlsContext{}
	if h2 {
		common.AlpnProtocols = []string{"h2"}
	}
	if t.GetMode() == networking.ClientTLSSettings_MUTUAL {
		common.TlsCertificates = []*tlsv3.TlsCertificate{{
			CertificateChain: fileSource(t.GetClientCertificate()),
			PrivateKey:       fileSource(t.GetPrivateKey()),
		}}
	}
	if !t.GetInsecureSkipVerify().GetValue() {
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{
			ValidationContext: validationContext(t, svc, host),
		}
	}
	ctx := &tlsv3.UpstreamTlsContext{CommonTlsContext: common, Sni: t.GetSni()}
	if ctx.Sni == "" {
		ctx.Sni = host
	}
	return &core.TransportSocket{Name: TLSTransportSocket,
		ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: toAny(ctx)}}
}

func validationContext(t *networking.ClientTLSSettings, svc *registry.Service, host string) *tlsv3.CertificateValidationContext {
	vc := &tlsv3.CertificateValidationContext{}
	if ca := t.GetCaCertificates(); ca != "" {
		vc.TrustedCa = fileSource(ca)
	} else {
		vc.SystemRootCerts = &tlsv3.CertificateValidationContext_SystemRootCerts{}
	}
	sans := t.GetSubjectAltNames()
	if len(sans) == 0 {
		sans = svc.SubjectAltNames
	}
	for _, s := range sans {
		vc.MatchSubjectAltNames = append(vc.MatchSubjectAltNames, exactMatch(s))
	}
	if len(sans) == 0 && t.GetSni() == "" && host != "" {
		vc.MatchTypedSubjectAltNames = []*tlsv3.SubjectAltNameMatcher{{
			SanType: tlsv3.SubjectAltNameMatcher_DNS,
			Matcher: exactMatch(host),
		}}
	}
	return vc
}

func fileSource(name string) *core.DataSource {
	return &core.DataSource{Specifier: &core.DataSource_Filename{Filename: name}}
}

func exactMatch(s string) *matcher.StringMatcher {
	return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: s}}
}
