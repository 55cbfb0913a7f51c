package xds

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	meshconfig "istio.io/api/mesh/v1alpha1"
	telemetry "istio.io/api/telemetry/v1alpha1"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// tel parses a Telemetry spec given as JSON.
func tel(t *testing.T, ns, name, spec string) config.Telemetry {
	t.Helper()
	s := &telemetry.Telemetry{}
	if err := protojson.Unmarshal([]byte(spec), s); err != nil {
		t.Fatalf("telemetry %s/%s: %v", ns, name, err)
	}
	return config.Telemetry{Meta: config.Meta{Namespace: ns, Name: name}, Spec: s}
}

func telemetryGenerator(mesh string, ts ...config.Telemetry) *generator {
	m := &meshconfig.MeshConfig{}
	if mesh != "" {
		if err := protojson.Unmarshal([]byte(mesh), m); err != nil {
			panic(err)
		}
	}
	pod := &registry.Pod{Name: "reviews-v1-0", Namespace: "default", Labels: map[string]string{"app": "reviews", "version": "v1"}}
	return newPodGenerator(&Input{Mesh: m, Telemetries: ts}, pod, nil)
}

// metricsSummary renders merged metrics as "name:drop,-tag,+tag=value"
// sorted, or "off".
func metricsSummary(g *generator, mode telemetry.WorkloadMode) string {
	per, off := g.mergedMetrics(g.telemetryLevels(), mode)
	if off {
		return "off"
	}
	var out []string
	for name, mo := range per {
		e := metricEntry(name, mo)
		if e == nil {
			continue
		}
		s := name
		if e.Fields["drop"].GetBoolValue() {
			s += ":drop"
		}
		for _, v := range e.Fields["tags_to_remove"].GetListValue().GetValues() {
			s += ",-" + v.GetStringValue()
		}
		for k, v := range e.Fields["dimensions"].GetStructValue().GetFields() {
			s += ",+" + k + "=" + v.GetStringValue()
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func TestMergedMetrics(t *testing.T) {
	for _, tc := range []struct {
		name           string
		mesh           string
		ts             func(t *testing.T) []config.Telemetry
		client, server string
	}{
		{"workload re-enables what the root disabled", "", func(t *testing.T) []config.Telemetry {
			return []config.Telemetry{
				tel(t, "istio-system", "mesh", `{"metrics":[{"overrides":[{"match":{"metric":"REQUEST_COUNT"},"disabled":true}]}]}`),
				tel(t, "default", "reviews", `{"selector":{"matchLabels":{"app":"reviews"}},"metrics":[{"overrides":[{"match":{"metric":"REQUEST_COUNT","mode":"SERVER"},"disabled":false}]}]}`),
			}
		}, "requests_total:drop", ""},
		{"tags merge per tag across levels", "", func(t *testing.T) []config.Telemetry {
			return []config.Telemetry{
				tel(t, "istio-system", "mesh", `{"metrics":[{"overrides":[{"match":{"metric":"REQUEST_COUNT"},"tagOverrides":{"a":{"value":"'1'"},"b":{"operation":"REMOVE"}}}]}]}`),
				tel(t, "default", "ns", `{"metrics":[{"overrides":[{"match":{"metric":"REQUEST_COUNT","mode":"CLIENT"},"tagOverrides":{"a":{"value":"'2'"}}}]}]}`),
			}
		}, "requests_total,-b,+a=2", "requests_total,-b,+a=1"},
		{"ALL_METRICS disabled at the root, one metric back at the namespace", "", func(t *testing.T) []config.Telemetry {
			return []config.Telemetry{
				tel(t, "istio-system", "mesh", `{"metrics":[{"overrides":[{"disabled":true}]}]}`),
				tel(t, "default", "ns", `{"metrics":[{"overrides":[{"match":{"metric":"REQUEST_COUNT"},"tagOverrides":{"x":{"operation":"REMOVE"}}}]}]}`),
			}
		}, "requests_total,-x", "requests_total,-x"},
		{"ALL_METRICS disabled", "", func(t *testing.T) []config.Telemetry {
			return []config.Telemetry{tel(t, "default", "ns", `{"metrics":[{"overrides":[{"match":{"metric":"ALL_METRICS"},"disabled":true}]}]}`)}
		}, "off", "off"},
		{"prometheus out of scope at the most specific level", "", func(t *testing.T) []config.Telemetry {
			return []config.Telemetry{
				tel(t, "istio-system", "mesh", `{"metrics":[{"providers":[{"name":"prometheus"}]}]}`),
				tel(t, "default", "reviews", `{"selector":{"matchLabels":{"app":"reviews"}},"metrics":[{"providers":[{"name":"stackdriver"}]}]}`),
			}
		}, "off", "off"},
		{"overrides for another provider do not apply", "", func(t *testing.T) []config.Telemetry {
			return []config.Telemetry{
				tel(t, "istio-system", "mesh", `{"metrics":[{"providers":[{"name":"stackdriver"}],"overrides":[{"match":{"metric":"REQUEST_COUNT"},"disabled":true}]}]}`),
				tel(t, "default", "ns", `{"metrics":[{"providers":[{"name":"prometheus"}],"overrides":[{"match":{"metric":"TCP_SENT_BYTES"},"disabled":true}]}]}`),
			}
		}, "tcp_sent_bytes_total:drop", "tcp_sent_bytes_total:drop"},
		{"a workload Telemetry of another app does not apply", "", func(t *testing.T) []config.Telemetry {
			return []config.Telemetry{
				tel(t, "default", "ratings", `{"selector":{"matchLabels":{"app":"ratings"}},"metrics":[{"overrides":[{"disabled":true}]}]}`),
			}
		}, "", ""},
		{"only the first namespace-wide Telemetry counts", "", func(t *testing.T) []config.Telemetry {
			return []config.Telemetry{
				tel(t, "default", "a", `{"metrics":[{"overrides":[{"match":{"metric":"REQUEST_SIZE"},"disabled":true}]}]}`),
				tel(t, "default", "b", `{"metrics":[{"overrides":[{"disabled":true}]}]}`),
			}
		}, "request_bytes:drop", "request_bytes:drop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := telemetryGenerator(tc.mesh, tc.ts(t)...)
			if got := metricsSummary(g, telemetry.WorkloadMode_CLIENT); got != tc.client {
				t.Errorf("client: got %q, want %q", got, tc.client)
			}
			if got := metricsSummary(g, telemetry.WorkloadMode_SERVER); got != tc.server {
				t.Errorf("server: got %q, want %q", got, tc.server)
			}
		})
	}
}

func tracingSummary(g *generator, mode telemetry.WorkloadMode) string {
	spec, set := g.mergedTracing(g.telemetryLevels(), mode)
	if !set {
		return "unset"
	}
	s := fmt.Sprintf("%s disabled=%v", spec.provider, spec.disabled)
	if spec.sampling != nil {
		s += fmt.Sprintf(" sampling=%g", *spec.sampling)
	}
	tags := make([]string, 0, len(spec.tags))
	for k := range spec.tags {
		tags = append(tags, k)
	}
	slices.Sort(tags)
	if len(tags) > 0 {
		s += " tags=" + strings.Join(tags, ",")
	}
	return s
}

func TestMergedTracing(t *testing.T) {
	for _, tc := range []struct {
		name           string
		mesh           string
		ts             func(t *testing.T) []config.Telemetry
		client, server string
	}{
		{"nothing", "", func(*testing.T) []config.Telemetry { return nil }, "unset", "unset"},
		{"default provider only", `{"defaultProviders":{"tracing":["otel"]}}`, func(*testing.T) []config.Telemetry { return nil },
			"otel disabled=false", "otel disabled=false"},
		{"fields merge across levels", "", func(t *testing.T) []config.Telemetry {
			return []config.Telemetry{
				tel(t, "istio-system", "mesh", `{"tracing":[{"providers":[{"name":"otel"}],"randomSamplingPercentage":10,"customTags":{"user":{"literal":{"value":"u"}}}}]}`),
				tel(t, "default", "ns", `{"tracing":[{"randomSamplingPercentage":50}]}`),
				tel(t, "default", "reviews", `{"selector":{"matchLabels":{"app":"reviews"}},"tracing":[{"match":{"mode":"SERVER"},"disableSpanReporting":true}]}`),
			}
		}, "otel disabled=false sampling=50 tags=user", "otel disabled=true sampling=50 tags=user"},
		{"custom tags replace as a whole; disabled turned back on", "", func(t *testing.T) []config.Telemetry {
			return []config.Telemetry{
				tel(t, "istio-system", "mesh", `{"tracing":[{"providers":[{"name":"otel"}],"disableSpanReporting":true,"customTags":{"a":{"literal":{"value":"1"}}}}]}`),
				tel(t, "default", "ns", `{"tracing":[{"match":{"mode":"CLIENT"},"disableSpanReporting":false,"customTags":{"b":{"literal":{"value":"2"}}}}]}`),
			}
		}, "otel disabled=false tags=b", "otel disabled=true tags=a"},
		{"provider per direction", `{"defaultProviders":{"tracing":["otel"]}}`, func(t *testing.T) []config.Telemetry {
			return []config.Telemetry{tel(t, "default", "ns", `{"tracing":[{"match":{"mode":"SERVER"},"providers":[{"name":"otel-http"}]}]}`)}
		}, "otel disabled=false", "otel-http disabled=false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := telemetryGenerator(tc.mesh, tc.ts(t)...)
			if got := tracingSummary(g, telemetry.WorkloadMode_CLIENT); got != tc.client {
				t.Errorf("client: got %q, want %q", got, tc.client)
			}
			if got := tracingSummary(g, telemetry.WorkloadMode_SERVER); got != tc.server {
				t.Errorf("server: got %q, want %q", got, tc.server)
			}
		})
	}
}

func TestMergedAccessLogging(t *testing.T) {
	summary := func(g *generator, mode telemetry.WorkloadMode) string {
		p, set := g.mergedAccessLogging(g.telemetryLevels(), mode)
		if !set {
			return "legacy"
		}
		return "[" + strings.Join(p, ",") + "]"
	}
	for _, tc := range []struct {
		name           string
		mesh           string
		ts             func(t *testing.T) []config.Telemetry
		client, server string
	}{
		{"nothing: legacy accessLogFile", "", func(*testing.T) []config.Telemetry { return nil }, "legacy", "legacy"},
		{"default providers", `{"defaultProviders":{"accessLogging":["envoy"]}}`, func(*testing.T) []config.Telemetry { return nil }, "[envoy]", "[envoy]"},
		{"root on, namespace off for the server, workload on for the client", "", func(t *testing.T) []config.Telemetry {
			return []config.Telemetry{
				tel(t, "istio-system", "mesh", `{"accessLogging":[{"providers":[{"name":"envoy"}]}]}`),
				tel(t, "default", "ns", `{"accessLogging":[{"disabled":true}]}`),
				tel(t, "default", "reviews", `{"selector":{"matchLabels":{"app":"reviews"}},"accessLogging":[{"match":{"mode":"CLIENT"},"disabled":false}]}`),
			}
		}, "[envoy]", "[]"},
		{"the most specific providers replace the parent's", `{"defaultProviders":{"accessLogging":["envoy"]}}`, func(t *testing.T) []config.Telemetry {
			return []config.Telemetry{
				tel(t, "istio-system", "mesh", `{"accessLogging":[{}]}`),
				tel(t, "default", "ns", `{"accessLogging":[{"providers":[{"name":"json-file"}]}]}`),
			}
		}, "[json-file]", "[json-file]"},
		{"an entry without providers and no defaults: legacy", "", func(t *testing.T) []config.Telemetry {
			return []config.Telemetry{tel(t, "default", "ns", `{"accessLogging":[{}]}`)}
		}, "legacy", "legacy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := telemetryGenerator(tc.mesh, tc.ts(t)...)
			if got := summary(g, telemetry.WorkloadMode_CLIENT); got != tc.client {
				t.Errorf("client: got %s, want %s", got, tc.client)
			}
			if got := summary(g, telemetry.WorkloadMode_SERVER); got != tc.server {
				t.Errorf("server: got %s, want %s", got, tc.server)
			}
		})
	}
}
