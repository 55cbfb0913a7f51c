package compile

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	// Registers RawBuffer, the plaintext transport socket's typed_config.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"google.golang.org/protobuf/proto"

	"github.com/halyard-mesh/halyard/internal/proxy/listener"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

// Transport sockets and Istio's SDS secret names. The proxy resolves the
// secret names itself, to its workload identity: no SDS stream is opened.
const (
	tlsTransportSocket       = "envoy.transport_sockets.tls"
	rawBufferTransportSocket = "envoy.transport_sockets.raw_buffer"
	upstreamTLSType          = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
	downstreamTLSType        = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
	SecretDefault            = "default"
	SecretRootCA             = "ROOTCA"
	// TransportSocketMatchKey is the endpoint metadata filter that
	// transport_socket_matches match on; TLSModeIstio marks an endpoint
	// with a sidecar.
	TransportSocketMatchKey = "envoy.transport_socket_match"
	TLSModeIstio            = "istio"
)

// Secrets is the workload identity behind the SDS secrets "default" (the
// certificate) and "ROOTCA" (the trust bundle); identity.Manager is one.
type Secrets interface {
	ServerTLSConfig() *tls.Config
	ClientTLSConfig(expectedSANs []string) *tls.Config
}

// serverNextProtos are the ALPN values an inbound mutual-TLS listener
// accepts: Istio's and the plain HTTP ones.
var serverNextProtos = []string{"istio-peer-exchange", "istio", "istio-h2", "istio-http/1.1", "istio-http/1.0", "h2", "http/1.1"}

// clusterTLS compiles a cluster's transport_socket (TLS origination) or
// its transport_socket_matches: Istio's auto mTLS shape, a tlsMode
// "istio" match with a TLS socket and a plaintext fallback. Without a
// workload identity (sec nil) auto mTLS dials every endpoint in
// plaintext; origination needs none.
func clusterTLS(c *clusterv3.Cluster, sec Secrets) (*upstream.TLS, error) {
	if ts := c.GetTransportSocket(); ts != nil {
		if len(c.GetTransportSocketMatches()) > 0 {
			return nil, errors.New("transport_socket and transport_socket_matches cannot both be set")
		}
		return originationTLS(ts) // origination.go
	}
	var out *upstream.TLS
	for _, m := range c.GetTransportSocketMatches() {
		ts := m.GetTransportSocket()
		fields := m.GetMatch().GetFields()
		switch {
		case len(fields) == 0 && (ts == nil || ts.GetName() == rawBufferTransportSocket):
			// the plaintext fallback
		case len(fields) == 1 && fields["tlsMode"].GetStringValue() == TLSModeIstio && ts.GetName() == tlsTransportSocket:
			t, err := upstreamTLS(ts, sec)
			if err != nil {
				return nil, fmt.Errorf("transport_socket_matches %q: %w", m.GetName(), err)
			}
			out = t
		default:
			return nil, fmt.Errorf("transport_socket_matches %q: only {tlsMode: istio} to %s and a plaintext fallback are supported", m.GetName(), tlsTransportSocket)
		}
	}
	if sec == nil {
		return nil, nil
	}
	return out, nil
}

func upstreamTLS(ts *corev3.TransportSocket, sec Secrets) (*upstream.TLS, error) {
	if ts.GetTypedConfig().GetTypeUrl() != upstreamTLSType {
		return nil, fmt.Errorf("typed_config must be %s", upstreamTLSType)
	}
	ctx := &tlsv3.UpstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
		return nil, err
	}
	sans, err := sdsContext(ctx.GetCommonTlsContext())
	if err != nil {
		return nil, err
	}
	if sec == nil {
		return nil, nil
	}
	alpn := ctx.GetCommonTlsContext().GetAlpnProtocols()
	cfg := sec.ClientTLSConfig(sans)
	cfg.NextProtos = slices.Clone(alpn)
	cfg.ServerName = ctx.GetSni()
	return &upstream.TLS{Config: cfg, Key: strings.Join(sans, ",") + "|" + strings.Join(alpn, ",") + "|" + ctx.GetSni()}, nil
}

// sdsContext checks that a CommonTlsContext takes its certificate from
// the SDS secret "default" and its roots from "ROOTCA", and returns the
// SANs to match (exact values only).
func sdsContext(c *tlsv3.CommonTlsContext) ([]string, error) {
	certs := c.GetTlsCertificateSdsSecretConfigs()
	if len(c.GetTlsCertificates()) > 0 || len(certs) != 1 || certs[0].GetName() != SecretDefault {
		return nil, fmt.Errorf("the certificate must be the SDS secret %q", SecretDefault)
	}
	cv := c.GetCombinedValidationContext()
	if cv == nil || cv.GetValidationContextSdsSecretConfig().GetName() != SecretRootCA {
		return nil, fmt.Errorf("combined_validation_context must take the SDS secret %q", SecretRootCA)
	}
	var sans []string
	for _, m := range cv.GetDefaultValidationContext().GetMatchSubjectAltNames() {
		if m.GetExact() == "" {
			return nil, errors.New("match_subject_alt_names: only exact values are supported")
		}
		sans = append(sans, m.GetExact())
	}
	for _, m := range cv.GetDefaultValidationContext().GetMatchTypedSubjectAltNames() {
		if m.GetMatcher().GetExact() == "" {
			return nil, errors.New("match_typed_subject_alt_names: only exact values are supported")
		}
		sans = append(sans, m.GetMatcher().GetExact())
	}
	return sans, nil
}

// downstreamTLS compiles an inbound DownstreamTlsContext.
func downstreamTLS(ts *corev3.TransportSocket, sec Secrets) (*tls.Config, error) {
	if ts.GetName() != tlsTransportSocket || ts.GetTypedConfig().GetTypeUrl() != downstreamTLSType {
		return nil, fmt.Errorf("transport_socket must be %s with a DownstreamTlsContext", tlsTransportSocket)
	}
	ctx := &tlsv3.DownstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
		return nil, err
	}
	if !ctx.GetRequireClientCertificate().GetValue() {
		return nil, errors.New("require_client_certificate must be true (mutual TLS only)")
	}
	if _, err := sdsContext(ctx.GetCommonTlsContext()); err != nil {
		return nil, err
	}
	if sec == nil {
		return nil, nil
	}
	cfg := sec.ServerTLSConfig()
	cfg.NextProtos = serverNextProtos
	return cfg, nil
}

// transportChains recognises Istio's inbound mutual-TLS shape: chains
// matching only transport_protocol "tls" (with a DownstreamTlsContext)
// and "raw_buffer", with the same network filters. It returns the chain
// to compile and the DownstreamTLS, or ok false for another shape.
func transportChains(chains []*listenerv3.FilterChain, sec Secrets) (fc *listenerv3.FilterChain, d *listener.DownstreamTLS, ok bool, err error) {
	var tlsChain, raw *listenerv3.FilterChain
	for _, c := range chains {
		m := c.GetFilterChainMatch()
		if m == nil || m.GetDestinationPort() != nil || len(m.GetServerNames()) > 0 || len(m.GetApplicationProtocols()) > 0 ||
			len(m.GetPrefixRanges()) > 0 || len(m.GetSourcePrefixRanges()) > 0 {
			return nil, nil, false, nil
		}
		switch m.GetTransportProtocol() {
		case "tls":
			tlsChain = c
		case "raw_buffer":
			raw = c
		default:
			return nil, nil, false, nil
		}
	}
	if tlsChain == nil {
		return nil, nil, false, nil
	}
	if tlsChain.GetTransportSocket() == nil {
		return nil, nil, true, errors.New(`filter chain matching transport_protocol "tls" has no transport_socket`)
	}
	cfg, err := downstreamTLS(tlsChain.GetTransportSocket(), sec)
	if err != nil {
		return nil, nil, true, fmt.Errorf("filter chain %q: %w", tlsChain.GetName(), err)
	}
	if raw != nil && (raw.GetTransportSocket() != nil || !sameFilters(raw, tlsChain)) {
		return nil, nil, true, errors.New(`the "raw_buffer" filter chain must have the "tls" chain's filters and no transport_socket`)
	}
	switch {
	case cfg != nil:
		return tlsChain, &listener.DownstreamTLS{Config: cfg, AllowPlaintext: raw != nil}, true, nil
	case raw != nil:
		// No workload identity: the plaintext chain only.
		return raw, nil, true, nil
	}
	return nil, nil, true, errors.New("mutual TLS only (STRICT) needs a workload identity (the proxy has no --ca-address)")
}

// sameFilters reports whether two filter chains have equal network filters.
func sameFilters(a, b *listenerv3.FilterChain) bool {
	fa, fb := a.GetFilters(), b.GetFilters()
	return len(fa) == len(fb) && slices.EqualFunc(fa, fb, func(x, y *listenerv3.Filter) bool { return proto.Equal(x, y) })
}
