package xds

import (
	"cmp"
	"slices"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspector "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
	security "istio.io/api/security/v1beta1"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// Auto mutual TLS, in Istio's shape. An outbound cluster carries
// transport_socket_matches: endpoints whose metadata has
// envoy.transport_socket_match {tlsMode: istio} (those with a sidecar) get
// an UpstreamTlsContext with the SDS secrets "default" (the workload
// certificate) and "ROOTCA" (the trust bundle) and the destination's
// service accounts as SANs; the others plaintext. An inbound listener has
// a filter chain matching transport_protocol "tls" (DownstreamTlsContext,
// client certificate required) and, unless STRICT, one matching
// "raw_buffer"; DISABLE keeps one plaintext chain.

// Names of the mutual-TLS pieces.
const (
	TLSTransportSocket       = "envoy.transport_sockets.tls"
	RawBufferTransportSocket = "envoy.transport_sockets.raw_buffer"
	TransportSocketMatchKey  = "envoy.transport_socket_match"
	TLSModeIstio             = "istio"
	SDSDefault               = "default"
	SDSRootCA                = "ROOTCA"
	TLSInspectorFilter       = "envoy.filters.listener.tls_inspector"
	DefaultTrustDomain       = "cluster.local"
)

// Istio's ALPN values on mutual-TLS connections between sidecars.
var (
	alpnTCP   = []string{"istio-peer-exchange", "istio"}
	alpnHTTP1 = []string{"istio-peer-exchange", "istio", "istio-http/1.1"}
	alpnH2    = []string{"istio-peer-exchange", "istio", "istio-h2"}
)

// tlsMetadata marks an endpoint with a sidecar.
func tlsMetadata(md *core.Metadata) *core.Metadata {
	if md == nil {
		md = &core.Metadata{}
	}
	if md.FilterMetadata == nil {
		md.FilterMetadata = map[string]*structpb.Struct{}
	}
	md.FilterMetadata[TransportSocketMatchKey] = &structpb.Struct{Fields: map[string]*structpb.Value{
		"tlsMode": structpb.NewStringValue(TLSModeIstio),
	}}
	return md
}

// autoMTLS reports whether an outbound cluster gets Istio's auto mTLS: its
// DestinationRule leaves tls unset or says ISTIO_MUTUAL. DISABLE turns it
// off; SIMPLE and MUTUAL replace it with TLS origination (origination.go).
func autoMTLS(p *networking.TrafficPolicy) bool {
	t := p.GetTls()
	return t == nil || t.GetMode() == networking.ClientTLSSettings_ISTIO_MUTUAL
}

// trustDomain is the CA's (Input.TrustDomain), else the mesh config's
// trustDomain, else cluster.local.
func (g *generator) trustDomain() string {
	return cmp.Or(g.trustDom, g.mesh.GetTrustDomain(), DefaultTrustDomain)
}

// serviceSANs are the SPIFFE IDs of the service accounts of the pods with
// a sidecar behind a service port, sorted.
func (g *generator) serviceSANs(svc *registry.Service, port uint32) []string {
	var out []string
	for _, ep := range g.model.Endpoints(svc.Hostname, port) {
		if !ep.Sidecar {
			continue
		}
		if pod := podNamed(g.model, svc.Namespace, ep.Pod); pod != nil {
			sa := cmp.Or(pod.ServiceAccount, "default")
			out = append(out, "spiffe://"+g.trustDomain()+"/ns/"+pod.Namespace+"/sa/"+sa)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// transportSocketMatches are an outbound cluster's auto-mTLS matches: the
// endpoints marked tlsMode istio get mutual TLS. Istio adds a second,
// match-all entry with a raw_buffer socket for the others; an endpoint
// that matches nothing gets the cluster's own transport socket, plaintext
// when unset, which is the same, so Halyard leaves that entry out (some
// 120 bytes per cluster, in every proxy's CDS).
func transportSocketMatches(sans []string, proto registry.Protocol, h2 bool) []*cluster.Cluster_TransportSocketMatch {
	alpn := alpnTCP
	if proto.IsHTTP() {
		alpn = alpnHTTP1
		if h2 {
			alpn = alpnH2
		}
	}
	var m []*matcher.StringMatcher
	for _, s := range sans {
		m = append(m, &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: s}})
	}
	ctx := &tlsv3.UpstreamTlsContext{CommonTlsContext: commonTLSContext(alpn, m)}
	return []*cluster.Cluster_TransportSocketMatch{
		{
			Name:  "tlsMode-istio",
			Match: &structpb.Struct{Fields: map[string]*structpb.Value{"tlsMode": structpb.NewStringValue(TLSModeIstio)}},
			TransportSocket: &core.TransportSocket{Name: TLSTransportSocket,
				ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: toAny(ctx)}},
		},
	}
}

func commonTLSContext(alpn []string, sans []*matcher.StringMatcher) *tlsv3.CommonTlsContext {
	return &tlsv3.CommonTlsContext{
		AlpnProtocols: alpn,
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{
			Name: SDSDefault, SdsConfig: adsConfigSource(),
		}},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchSubjectAltNames: sans},
				ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: SDSRootCA, SdsConfig: adsConfigSource()},
			},
		},
	}
}

// peerAuthMode is the PeerAuthentication mode of one of the pod's
// container ports, with Istio's precedence: the port-level setting of the
// workload policy (the one in the pod's namespace whose selector matches
// it), then that policy's mtls, then the namespace's policy (no
// selector), then the mesh's (no selector, root namespace); UNSET
// inherits from the next; nothing set means PERMISSIVE. Among several
// policies of one level the first by name counts.
func (g *generator) peerAuthMode(port uint32) security.PeerAuthentication_MutualTLS_Mode {
	var workload, namespace, mesh *config.PeerAuthentication
	for i := range g.peerAuths {
		pa := &g.peerAuths[i]
		sel := pa.Spec.GetSelector().GetMatchLabels()
		switch {
		case pa.Namespace == g.pod.Namespace && len(sel) > 0:
			if workload == nil && labelsMatch(sel, g.pod.Labels) {
				workload = pa
			}
		case pa.Namespace == g.pod.Namespace && namespace == nil:
			namespace = pa
		case pa.Namespace == g.root && len(sel) == 0 && mesh == nil:
			mesh = pa
		}
	}
	const unset = security.PeerAuthentication_MutualTLS_UNSET
	if workload != nil {
		if m := workload.Spec.GetPortLevelMtls()[port].GetMode(); m != unset {
			return m
		}
	}
	for _, pa := range []*config.PeerAuthentication{workload, namespace, mesh} {
		if pa == nil {
			continue
		}
		if m := pa.Spec.GetMtls().GetMode(); m != unset {
			return m
		}
	}
	return security.PeerAuthentication_MutualTLS_PERMISSIVE
}

// applyPeerAuth gives an inbound listener its mutual-TLS filter chains
// for the port's mode.
func (g *generator) applyPeerAuth(l *listener.Listener, port uint32) {
	mode := g.peerAuthMode(port)
	if mode == security.PeerAuthentication_MutualTLS_DISABLE {
		return
	}
	plain := l.FilterChains[0]
	ctx := &tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapperspb.Bool(true),
		CommonTlsContext:         commonTLSContext([]string{"istio-peer-exchange", "h2", "http/1.1"}, nil),
	}
	tlsChain := &listener.FilterChain{
		Name:             "inbound_tls",
		FilterChainMatch: &listener.FilterChainMatch{TransportProtocol: "tls"},
		Filters:          plain.Filters,
		TransportSocket: &core.TransportSocket{Name: TLSTransportSocket,
			ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: toAny(ctx)}},
	}
	l.FilterChains = []*listener.FilterChain{tlsChain}
	if mode != security.PeerAuthentication_MutualTLS_STRICT {
		plain.Name = "inbound_plaintext"
		plain.FilterChainMatch = &listener.FilterChainMatch{TransportProtocol: "raw_buffer"}
		l.FilterChains = append(l.FilterChains, plain)
	}
	l.ListenerFilters = append(l.ListenerFilters, &listener.ListenerFilter{
		Name:       TLSInspectorFilter,
		ConfigType: &listener.ListenerFilter_TypedConfig{TypedConfig: toAny(&tlsinspector.TlsInspector{})},
	})
}
