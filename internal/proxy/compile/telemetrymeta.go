package compile

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// istioMetadata is the filter_metadata key of Istio's telemetry metadata.
const istioMetadata = "istio"

// endpointWorkload encodes an endpoint's filter_metadata["istio"] for
// telemetry: Istio's workload value
// ("name;namespace;canonical_service;canonical_revision;cluster") followed
// by ";app;version" from the fields of the same names. "" when there is no
// workload.
func endpointWorkload(md *corev3.Metadata) string {
	f := md.GetFilterMetadata()[istioMetadata].GetFields()
	w := f["workload"].GetStringValue()
	if w == "" {
		return ""
	}
	return w + ";" + f["app"].GetStringValue() + ";" + f["version"].GetStringValue()
}

// clusterService encodes the first of a cluster's
// filter_metadata["istio"].services entries as "host;name;namespace"; ""
// when there is none.
func clusterService(md *corev3.Metadata) string {
	svcs := md.GetFilterMetadata()[istioMetadata].GetFields()["services"].GetListValue().GetValues()
	if len(svcs) == 0 {
		return ""
	}
	f := svcs[0].GetStructValue().GetFields()
	host := f["host"].GetStringValue()
	if host == "" || strings.Contains(host, ";") {
		return ""
	}
	return host + ";" + f["name"].GetStringValue() + ";" + f["namespace"].GetStringValue()
}
