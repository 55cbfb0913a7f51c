package compile

import (
	"errors"
	"fmt"
	"net/url"

	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/tracing"
)

const (
	otelTracerName = "envoy.tracers.opentelemetry"
	otelTracerType = "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig"
)

// compileTracing compiles an HCM's tracing: the OpenTelemetry tracer
// (grpc_service.envoy_grpc or http_service to a cluster), random_sampling
// and literal and request-header custom_tags. No provider: no tracing.
func compileTracing(t *hcmv3.HttpConnectionManager_Tracing, exporters *tracing.Exporters) (hcm.Tracer, error) {
	p := t.GetProvider()
	if p == nil {
		return nil, nil
	}
	tc := p.GetTypedConfig()
	if tc.GetTypeUrl() != otelTracerType {
		return nil, fmt.Errorf("tracing: unsupported provider %q (only %s)", p.GetName(), otelTracerName)
	}
	oc := &tracev3.OpenTelemetryConfig{}
	if err := tc.UnmarshalTo(oc); err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	dst, err := otelDestination(oc)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	cfg := tracing.Config{ServiceName: oc.GetServiceName(), SamplingPercent: 100}
	if rs := t.GetRandomSampling(); rs != nil {
		cfg.SamplingPercent = rs.GetValue()
	}
	for _, ct := range t.GetCustomTags() {
		switch {
		case ct.GetLiteral() != nil:
			cfg.Tags = append(cfg.Tags, tracing.Tag{Name: ct.GetTag(), Literal: ct.GetLiteral().GetValue()})
		case ct.GetRequestHeader() != nil:
			cfg.Tags = append(cfg.Tags, tracing.Tag{Name: ct.GetTag(), Header: ct.GetRequestHeader().GetName(),
				Default: ct.GetRequestHeader().GetDefaultValue()})
		default:
			return nil, fmt.Errorf("tracing: custom tag %q: only literal and request_header tags are supported", ct.GetTag())
		}
	}
	if exporters != nil {
		cfg.Exporter = exporters.Get(dst)
	}
	return tracing.New(cfg), nil
}

func otelDestination(oc *tracev3.OpenTelemetryConfig) (tracing.Destination, error) {
	if g := oc.GetGrpcService(); g != nil {
		eg := g.GetEnvoyGrpc()
		if eg.GetClusterName() == "" {
			return tracing.Destination{}, errors.New("grpc_service: only envoy_grpc with a cluster_name is supported")
		}
		return tracing.Destination{Cluster: eg.GetClusterName(), Authority: cmpOr(eg.GetAuthority(), eg.GetClusterName())}, nil
	}
	if h := oc.GetHttpService(); h != nil {
		u, err := url.Parse(h.GetHttpUri().GetUri())
		if err != nil || u.Host == "" || h.GetHttpUri().GetCluster() == "" {
			return tracing.Destination{}, fmt.Errorf("http_service: want http_uri with an absolute uri and a cluster, got %q", h.GetHttpUri().GetUri())
		}
		return tracing.Destination{Cluster: h.GetHttpUri().GetCluster(), Authority: u.Host, HTTP: true, Path: u.Path}, nil
	}
	return tracing.Destination{}, errors.New("OpenTelemetryConfig needs grpc_service or http_service")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
