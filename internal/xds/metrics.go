package xds

import (
	"slices"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
	telemetry "istio.io/api/telemetry/v1alpha1"
)

// statsMetadata is the listener filter_metadata key of metric overrides.
const statsMetadata = "istio.stats"

// istioMetricNames are the stats config names of Istio's metrics ("" for
// ALL_METRICS); the gRPC message counters are not reported.
var istioMetricNames = map[telemetry.MetricSelector_IstioMetric]string{
	telemetry.MetricSelector_ALL_METRICS:            "",
	telemetry.MetricSelector_REQUEST_COUNT:          "requests_total",
	telemetry.MetricSelector_REQUEST_DURATION:       "request_duration_milliseconds",
	telemetry.MetricSelector_REQUEST_SIZE:           "request_bytes",
	telemetry.MetricSelector_RESPONSE_SIZE:          "response_bytes",
	telemetry.MetricSelector_TCP_OPENED_CONNECTIONS: "tcp_connections_opened_total",
	telemetry.MetricSelector_TCP_CLOSED_CONNECTIONS: "tcp_connections_closed_total",
	telemetry.MetricSelector_TCP_SENT_BYTES:         "tcp_sent_bytes_total",
	telemetry.MetricSelector_TCP_RECEIVED_BYTES:     "tcp_received_bytes_total",
}

// metricsMetadata is a listener's metric overrides for one direction, as
// listener metadata filter_metadata["istio.stats"] = {metrics: [{name,
// drop, tags_to_remove, dimensions}]}, from the Telemetry API's metrics
// merged over the pod's levels (telemetrymerge.go); an entry without a
// name drops every metric. nil when nothing is overridden.
func (g *generator) metricsMetadata(mode telemetry.WorkloadMode) *core.Metadata {
	per, off := g.mergedMetrics(g.telemetryLevels(), mode)
	var list []*structpb.Value
	if off {
		list = append(list, structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"drop": structpb.NewBoolValue(true)}}))
	}
	names := make([]string, 0, len(per))
	for n := range per {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if e := metricEntry(n, per[n]); e != nil && !off {
			list = append(list, structpb.NewStructValue(e))
		}
	}
	if len(list) == 0 {
		return nil
	}
	return &core.Metadata{FilterMetadata: map[string]*structpb.Struct{
		statsMetadata: {Fields: map[string]*structpb.Value{"metrics": structpb.NewListValue(&structpb.ListValue{Values: list})}},
	}}
}

// metricEntry is one metric's merged override: disabled → drop;
// tagOverrides REMOVE → tags_to_remove; UPSERT of a quoted string literal
// → dimensions (other expressions need a CEL evaluator and are left out).
// nil when it changes nothing.
func metricEntry(name string, o *metricOverride) *structpb.Struct {
	f := map[string]*structpb.Value{}
	if o.disabled != nil && *o.disabled {
		f["drop"] = structpb.NewBoolValue(true)
	}
	var remove []*structpb.Value
	dims := map[string]*structpb.Value{}
	tags := make([]string, 0, len(o.tags))
	for k := range o.tags {
		tags = append(tags, k)
	}
	slices.Sort(tags)
	for _, k := range tags {
		to := o.tags[k]
		switch to.GetOperation() {
		case telemetry.MetricsOverrides_TagOverride_REMOVE:
			remove = append(remove, structpb.NewStringValue(k))
		case telemetry.MetricsOverrides_TagOverride_UPSERT:
			if v, ok := stringLiteral(to.GetValue()); ok {
				dims[k] = structpb.NewStringValue(v)
			}
		}
	}
	if len(remove) > 0 {
		f["tags_to_remove"] = structpb.NewListValue(&structpb.ListValue{Values: remove})
	}
	if len(dims) > 0 {
		f["dimensions"] = structpb.NewStructValue(&structpb.Struct{Fields: dims})
	}
	if len(f) == 0 {
		return nil
	}
	f["name"] = structpb.NewStringValue(name)
	return &structpb.Struct{Fields: f}
}

// stringLiteral unquotes a CEL string literal ('v' or "v", no escapes).
func stringLiteral(expr string) (string, bool) {
	expr = strings.TrimSpace(expr)
	if len(expr) < 2 || (expr[0] != '\'' && expr[0] != '"') || expr[len(expr)-1] != expr[0] {
		return "", false
	}
	v := expr[1 : len(expr)-1]
	if strings.ContainsAny(v, `\'"`) {
		return "", false
	}
	return v, true
}
