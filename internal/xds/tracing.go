package xds

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	trace "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tracingtype "github.com/envoyproxy/go-control-plane/envoy/type/tracing/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	telemetry "istio.io/api/telemetry/v1alpha1"

	"github.com/halyard-mesh/halyard/internal/config"
)

const (
	otelTracerName = "envoy.tracers.opentelemetry"
	// MeshID is istio.mesh_id on spans (Istio's default: the trust domain).
	MeshID = "cluster.local"
	// defaultSamplingPercent is Istio's defaultConfig.tracing.sampling.
	defaultSamplingPercent = 1.0
)

// tracing resolves the HCM tracing of the proxy's pod for one direction:
// MeshConfig defaultProviders.tracing and the Telemetry API merged
// (telemetrymerge.go); the provider is an extensionProviders opentelemetry
// {service, port, http?}. nil: none.
func (g *generator) tracing(mode telemetry.WorkloadMode) *hcm.HttpConnectionManager_Tracing {
	if !g.mesh.GetEnableTracing() && g.mesh != nil {
		return nil
	}
	spec, set := g.mergedTracing(g.telemetryLevels(), mode)
	if !set || spec.disabled || spec.provider == "" {
		return nil
	}
	provider := g.otelProvider(spec.provider)
	if provider == nil {
		return nil
	}
	sampling := defaultSamplingPercent
	if s := g.mesh.GetDefaultConfig().GetTracing(); s != nil && s.GetSampling() > 0 {
		sampling = s.GetSampling()
	}
	if spec.sampling != nil {
		sampling = *spec.sampling
	}
	return &hcm.HttpConnectionManager_Tracing{
		RandomSampling: &typev3.Percent{Value: sampling},
		Provider:       provider,
		CustomTags:     g.customTags(spec.tags),
	}
}

// otelProvider is the OpenTelemetry tracer of an extension provider: to
// the cluster outbound|<port>||<service>, over gRPC, or HTTP when the
// provider has http (path default /v1/traces).
func (g *generator) otelProvider(name string) *trace.Tracing_Http {
	p := extensionProvider(g.mesh, name).GetOpentelemetry()
	if p == nil || p.GetService() == "" || p.GetPort() == 0 {
		return nil
	}
	host := p.GetService()
	if _, h, ok := strings.Cut(host, "/"); ok { // "namespace/host"
		host = h
	}
	cluster := OutboundClusterName(p.GetPort(), "", host)
	oc := &trace.OpenTelemetryConfig{ServiceName: g.tracingServiceName()}
	if h := p.GetHttp(); h != nil {
		path := cmp.Or(h.GetPath(), "/v1/traces")
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		oc.HttpService = &core.HttpService{HttpUri: &core.HttpUri{
			Uri:              "http://" + host + ":" + strconv.Itoa(int(p.GetPort())) + path,
			HttpUpstreamType: &core.HttpUri_Cluster{Cluster: cluster},
			Timeout:          h.GetTimeout(),
		}}
	} else {
		oc.GrpcService = &core.GrpcService{TargetSpecifier: &core.GrpcService_EnvoyGrpc_{EnvoyGrpc: &core.GrpcService_EnvoyGrpc{
			ClusterName: cluster, Authority: host,
		}}}
	}
	return &trace.Tracing_Http{Name: otelTracerName, ConfigType: &trace.Tracing_Http_TypedConfig{TypedConfig: toAny(oc)}}
}

// tracingServiceName is Istio's default span service name:
// "<canonical service>.<namespace>".
func (g *generator) tracingServiceName() string {
	return CanonicalService(g.pod.Labels, cmp.Or(g.pod.Workload, g.pod.Name)) + "." + g.pod.Namespace
}

// customTags are Istio's istio.* tags and the Telemetry's custom tags
// (literal, header; environment tags are sent as their default value).
func (g *generator) customTags(custom map[string]*telemetry.Tracing_CustomTag) []*tracingtype.CustomTag {
	literal := func(k, v string) *tracingtype.CustomTag {
		return &tracingtype.CustomTag{Tag: k, Type: &tracingtype.CustomTag_Literal_{Literal: &tracingtype.CustomTag_Literal{Value: v}}}
	}
	out := []*tracingtype.CustomTag{
		literal("istio.canonical_revision", CanonicalRevision(g.pod.Labels)),
		literal("istio.canonical_service", CanonicalService(g.pod.Labels, cmp.Or(g.pod.Workload, g.pod.Name))),
		literal("istio.mesh_id", MeshID),
		literal("istio.namespace", g.pod.Namespace),
	}
	keys := make([]string, 0, len(custom))
	for k := range custom {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ct := custom[k]
		switch {
		case ct.GetLiteral() != nil:
			out = append(out, literal(k, ct.GetLiteral().GetValue()))
		case ct.GetHeader() != nil:
			out = append(out, &tracingtype.CustomTag{Tag: k, Type: &tracingtype.CustomTag_RequestHeader{RequestHeader: &tracingtype.CustomTag_Header{
				Name: ct.GetHeader().GetName(), DefaultValue: ct.GetHeader().GetDefaultValue()}}})
		case ct.GetEnvironment() != nil:
			out = append(out, literal(k, ct.GetEnvironment().GetDefaultValue()))
		}
	}
	return out
}

// tracingConfigured says whether any proxy may get tracing; its tags and
// service name depend on pod labels, so proxies are then classed by labels.
func tracingConfigured(in *Input) bool {
	if len(in.Mesh.GetDefaultProviders().GetTracing()) > 0 {
		return true
	}
	return slices.ContainsFunc(in.Telemetries, func(t config.Telemetry) bool { return len(t.Spec.GetTracing()) > 0 })
}
