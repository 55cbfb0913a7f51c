package xds

import (
	"encoding/json"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/structpb"
	meshconfig "istio.io/api/mesh/v1alpha1"
	telemetry "istio.io/api/telemetry/v1alpha1"

	"github.com/halyard-mesh/halyard/internal/config"
)

// Access log names and defaults, as Istio's.
const (
	fileAccessLogName = "envoy.access_loggers.file"
	// EnvoyAccessLogProvider is Istio's built-in access log provider.
	EnvoyAccessLogProvider = "envoy"
	defaultAccessLogPath   = "/dev/stdout"
)

// DefaultJSONAccessLog is Istio's default JSON access log format
// (accessLogEncoding: JSON without accessLogFormat).
var DefaultJSONAccessLog = map[string]string{
	"start_time": "%START_TIME%", "method": "%REQ(:METHOD)%", "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
	"protocol": "%PROTOCOL%", "response_code": "%RESPONSE_CODE%", "response_flags": "%RESPONSE_FLAGS%",
	"response_code_details": "%RESPONSE_CODE_DETAILS%", "connection_termination_details": "%CONNECTION_TERMINATION_DETAILS%",
	"upstream_transport_failure_reason": "%UPSTREAM_TRANSPORT_FAILURE_REASON%", "bytes_received": "%BYTES_RECEIVED%",
	"bytes_sent": "%BYTES_SENT%", "duration": "%DURATION%", "upstream_service_time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
	"x_forwarded_for": "%REQ(X-FORWARDED-FOR)%", "user_agent": "%REQ(USER-AGENT)%", "request_id": "%REQ(X-REQUEST-ID)%",
	"authority": "%REQ(:AUTHORITY)%", "upstream_host": "%UPSTREAM_HOST%", "upstream_cluster": "%UPSTREAM_CLUSTER_RAW%",
	"upstream_local_address": "%UPSTREAM_LOCAL_ADDRESS%", "downstream_local_address": "%DOWNSTREAM_LOCAL_ADDRESS%",
	"downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%", "requested_server_name": "%REQUESTED_SERVER_NAME%",
	"route_name": "%ROUTE_NAME%",
}

// withAccessLogs sets the access_log and tracing of every HCM and
// tcp_proxy in the listeners, and the listeners' metric overrides
// (metrics.go), for their direction (Telemetry match.mode CLIENT:
// outbound, SERVER: inbound).
func (g *generator) withAccessLogs(ls []types.Resource) []types.Resource {
	out, in := g.accessLogs(telemetry.WorkloadMode_CLIENT), g.accessLogs(telemetry.WorkloadMode_SERVER)
	outTr, inTr := g.tracing(telemetry.WorkloadMode_CLIENT), g.tracing(telemetry.WorkloadMode_SERVER)
	outMd, inMd := g.metricsMetadata(telemetry.WorkloadMode_CLIENT), g.metricsMetadata(telemetry.WorkloadMode_SERVER)
	if len(out) == 0 && len(in) == 0 && outTr == nil && inTr == nil && outMd == nil && inMd == nil {
		return ls
	}
	for _, r := range ls {
		l, ok := r.(*listener.Listener)
		if !ok {
			continue
		}
		logs, tr, md := out, outTr, outMd
		if l.GetTrafficDirection() == core.TrafficDirection_INBOUND {
			logs, tr, md = in, inTr, inMd
		}
		if md != nil {
			l.Metadata = md
		}
		if len(logs) == 0 && tr == nil {
			continue
		}
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				setTelemetry(f, logs, tr)
			}
		}
	}
	return ls
}

// setTelemetry sets an HCM's access_log and tracing, or a tcp_proxy's
// access_log.
func setTelemetry(f *listener.Filter, logs []*accesslogv3.AccessLog, tr *hcm.HttpConnectionManager_Tracing) {
	switch f.GetName() {
	case wellknown.HTTPConnectionManager:
		m := &hcm.HttpConnectionManager{}
		if f.GetTypedConfig().UnmarshalTo(m) != nil {
			return
		}
		m.AccessLog, m.Tracing = logs, tr
		f.ConfigType = &listener.Filter_TypedConfig{TypedConfig: toAny(m)}
	case wellknown.TCPProxy:
		p := &tcp.TcpProxy{}
		if len(logs) == 0 || f.GetTypedConfig().UnmarshalTo(p) != nil {
			return
		}
		p.AccessLog = logs
		f.ConfigType = &listener.Filter_TypedConfig{TypedConfig: toAny(p)}
	}
}

// accessLogs resolves the access logs of the proxy's pod for one
// direction: the providers the Telemetry API enables (telemetrymerge.go);
// when it says nothing, the legacy MeshConfig accessLogFile (the envoy
// provider).
func (g *generator) accessLogs(mode telemetry.WorkloadMode) []*accesslogv3.AccessLog {
	names, set := g.mergedAccessLogging(g.telemetryLevels(), mode)
	if !set && g.mesh.GetAccessLogFile() != "" {
		names = []string{EnvoyAccessLogProvider}
	}
	var out []*accesslogv3.AccessLog
	for _, n := range names {
		if l := g.providerAccessLog(n); l != nil {
			out = append(out, l)
		}
	}
	return out
}

// providerAccessLog is the FileAccessLog of a provider: "envoy" (the mesh
// accessLogFile or stdout, accessLogEncoding and accessLogFormat) or an
// extensionProviders envoyFileAccessLog; nil for other providers.
func (g *generator) providerAccessLog(name string) *accesslogv3.AccessLog {
	f := &filev3.FileAccessLog{}
	if name == EnvoyAccessLogProvider {
		f.Path = g.mesh.GetAccessLogFile()
		if f.Path == "" {
			f.Path = defaultAccessLogPath
		}
		f.AccessLogFormat = meshLogFormat(g.mesh)
	} else {
		p := extensionProvider(g.mesh, name).GetEnvoyFileAccessLog()
		if p == nil {
			return nil
		}
		f.Path = p.GetPath()
		if f.Path == "" {
			f.Path = defaultAccessLogPath
		}
		switch lf := p.GetLogFormat(); {
		case lf.GetLabels() != nil:
			f.AccessLogFormat = &filev3.FileAccessLog_LogFormat{LogFormat: &core.SubstitutionFormatString{
				Format: &core.SubstitutionFormatString_JsonFormat{JsonFormat: lf.GetLabels()}}}
		case lf.GetText() != "":
			f.AccessLogFormat = textLogFormat(lf.GetText())
		}
	}
	return &accesslogv3.AccessLog{Name: fileAccessLogName, ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: toAny(f)}}
}

func extensionProvider(mesh *meshconfig.MeshConfig, name string) *meshconfig.MeshConfig_ExtensionProvider {
	for _, p := range mesh.GetExtensionProviders() {
		if p.GetName() == name {
			return p
		}
	}
	return nil
}

// meshLogFormat is the log_format of MeshConfig accessLogEncoding and
// accessLogFormat; nil (the proxy's default, Istio's text format) when
// neither is set.
func meshLogFormat(mesh *meshconfig.MeshConfig) *filev3.FileAccessLog_LogFormat {
	format := mesh.GetAccessLogFormat()
	if mesh.GetAccessLogEncoding() != meshconfig.MeshConfig_JSON {
		if format == "" {
			return nil
		}
		return textLogFormat(format)
	}
	fields := DefaultJSONAccessLog
	if format != "" {
		var custom map[string]string
		if err := json.Unmarshal([]byte(format), &custom); err == nil {
			fields = custom
		}
	}
	st := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for k, v := range fields {
		st.Fields[k] = structpb.NewStringValue(v)
	}
	return &filev3.FileAccessLog_LogFormat{LogFormat: &core.SubstitutionFormatString{
		Format: &core.SubstitutionFormatString_JsonFormat{JsonFormat: st}}}
}

func textLogFormat(s string) *filev3.FileAccessLog_LogFormat {
	return &filev3.FileAccessLog_LogFormat{LogFormat: &core.SubstitutionFormatString{
		Format: &core.SubstitutionFormatString_TextFormatSource{TextFormatSource: &core.DataSource{
			Specifier: &core.DataSource_InlineString{InlineString: s}}}}}
}

// selectsByTelemetry says whether a Telemetry selects workloads by label.
func selectsByTelemetry(ts []config.Telemetry) bool {
	for _, t := range ts {
		if len(t.Spec.GetSelector().GetMatchLabels()) > 0 {
			return true
		}
	}
	return false
}
