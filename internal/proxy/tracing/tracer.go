package tracing

import (
	"encoding/binary"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/stats"
)

// Tag is a custom span attribute: a literal value, or a request header's
// value (Header set; Default when the header is missing).
type Tag struct {
	Name, Literal, Header, Default string
}

// Config is an HCM's compiled tracing.
type Config struct {
	Exporter *Exporter
	// ServiceName is the resource's service.name.
	ServiceName string
	// SamplingPercent samples new traces (requests without a sampling
	// decision) at random; a decision in the trace context is followed.
	SamplingPercent float64
	Tags            []Tag
	// Rand returns a uniform float in [0, 1); rand.Float64 when nil.
	Rand func() float64
}

// Tracer implements hcm.Tracer.
type Tracer struct {
	cfg      Config
	resource *resourcepb.Resource
	literal  []*commonpb.KeyValue
}

var _ hcm.Tracer = (*Tracer)(nil)

// New returns a tracer.
func New(cfg Config) *Tracer {
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	t := &Tracer{cfg: cfg, resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("service.name", cfg.ServiceName)}}}
	for _, tag := range cfg.Tags {
		if tag.Header == "" {
			t.literal = append(t.literal, str(tag.Name, tag.Literal))
		}
	}
	return t
}

// Begin implements hcm.Tracer.
func (t *Tracer) Begin(r *http.Request, sp *hcm.Span) {
	p, ok := extract(r.Header)
	switch {
	case ok:
		sp.TraceID, sp.ParentID, sp.B3 = p.traceID, p.spanID, p.b3
		sp.Sampled = p.sampled
		if !p.hasSampled {
			sp.Sampled = t.sample()
		}
	default:
		binary.BigEndian.PutUint64(sp.TraceID[:8], rand.Uint64())
		binary.BigEndian.PutUint64(sp.TraceID[8:], rand.Uint64()|1)
		sp.Sampled = t.sample()
	}
	binary.BigEndian.PutUint64(sp.SpanID[:], rand.Uint64()|1)
}

func (t *Tracer) sample() bool {
	return t.cfg.SamplingPercent > 0 && t.cfg.Rand()*100 < t.cfg.SamplingPercent
}

// Inject implements hcm.Tracer.
func (t *Tracer) Inject(sp *hcm.Span, h http.Header) { inject(sp, h) }

// End implements hcm.Tracer: a sampled span is queued for export.
func (t *Tracer) End(sp *hcm.Span, info *hcm.RequestInfo) {
	if !sp.Sampled || t.cfg.Exporter == nil {
		return
	}
	t.cfg.Exporter.enqueue(t.resource, t.span(sp, info))
}

// span builds the OTLP span of a request with Istio's attributes.
func (t *Tracer) span(sp *hcm.Span, info *hcm.RequestInfo) *tracepb.Span {
	s := &tracepb.Span{
		TraceId:           append([]byte(nil), sp.TraceID[:]...),
		SpanId:            append([]byte(nil), sp.SpanID[:]...),
		Name:              operation(info),
		Kind:              tracepb.Span_SPAN_KIND_CLIENT,
		StartTimeUnixNano: uint64(info.Start.UnixNano()),
		EndTimeUnixNano:   uint64(info.Start.Add(info.Duration).UnixNano()),
	}
	if sp.ParentID != [8]byte{} {
		s.ParentSpanId = append([]byte(nil), sp.ParentID[:]...)
	}
	if info.Inbound {
		s.Kind = tracepb.Span_SPAN_KIND_SERVER
	}
	r := info.Request
	header := func(h string) string {
		if r == nil {
			return ""
		}
		return r.Header.Get(h)
	}
	url := "http://" + info.Authority + info.Path
	if r != nil {
		url = "http://" + info.Authority + r.URL.RequestURI()
	}
	s.Attributes = append(s.Attributes,
		str("node_id", t.cfg.Exporter.node),
		str("guid:x-request-id", info.RequestID),
		str("http.url", url),
		str("http.method", info.Method),
		str("http.protocol", info.Protocol),
		str("downstream_cluster", "-"),
		str("user_agent", dash(header("User-Agent"))),
		str("request_size", strconv.FormatInt(info.RequestBytes, 10)),
		str("response_size", strconv.FormatInt(info.ResponseBytes, 10)),
		str("component", "proxy"),
		str("upstream_cluster", dash(info.Cluster)),
		str("upstream_cluster.name", dash(info.Cluster)),
		str("http.status_code", strconv.Itoa(info.Status)),
		str("response_flags", info.Flags.String()),
	)
	if r != nil {
		s.Attributes = append(s.Attributes, str("peer.address", r.RemoteAddr))
	}
	if info.UpstreamHost != "" {
		s.Attributes = append(s.Attributes, str("upstream.address", info.UpstreamHost))
	}
	s.Attributes = append(s.Attributes, t.literal...)
	for _, tag := range t.cfg.Tags {
		if tag.Header != "" {
			s.Attributes = append(s.Attributes, str(tag.Name, cmpOr(header(tag.Header), tag.Default)))
		}
	}
	if info.Status >= 500 || info.Status == 0 {
		s.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR}
		s.Attributes = append(s.Attributes, &commonpb.KeyValue{Key: "error", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}})
	}
	return s
}

// operation is Istio's span name: "<service host>:<port>/*".
func operation(info *hcm.RequestInfo) string {
	svc := info.Service
	if svc == "" {
		svc = info.Authority
	}
	host := stats.ParseService(svc).Host
	// cluster names are "outbound|<port>|..." and "inbound|<port>||"
	if parts := strings.SplitN(info.Cluster, "|", 3); len(parts) == 3 && parts[1] != "" {
		return host + ":" + parts[1] + "/*"
	}
	return host + "/*"
}

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func dash(s string) string { return cmpOr(s, "-") }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
