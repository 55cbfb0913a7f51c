package e2e

import (
	"context"
	"encoding/hex"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// otlpReceiver is an OTLP trace receiver: a gRPC server implementing
// TraceService/Export (its request has TracesData's wire form).
type otlpReceiver struct {
	mu    sync.Mutex
	spans []recvSpan
}

type recvSpan struct {
	service string
	span    *tracepb.Span
}

func (rv *otlpReceiver) export(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	var td tracepb.TracesData
	if err := dec(&td); err != nil {
		return nil, err
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	for _, rs := range td.GetResourceSpans() {
		var service string
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				rv.spans = append(rv.spans, recvSpan{service, s})
			}
		}
	}
	return &emptypb.Empty{}, nil
}

func (rv *otlpReceiver) received() []recvSpan {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return append([]recvSpan(nil), rv.spans...)
}

func startOTLPReceiver(t *testing.T) (*otlpReceiver, string) {
	t.Helper()
	rv := &otlpReceiver{}
	srv := grpc.NewServer()
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "opentelemetry.proto.collector.trace.v1.TraceService",
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Export", Handler: rv.export}},
	}, rv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return rv, port
}

// TestTracingBookinfo sends one request through productpage, reviews v2
// and ratings with tracing on at 100% and checks, at a real OTLP receiver,
// that every hop's span arrived in one trace with correct parent links.
func TestTracingBookinfo(t *testing.T) {
	rv, port := startOTLPReceiver(t)
	files := bookinfo()
	files["tracing.yaml"] = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: otel
spec:
  hosts: [otel.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - {number: ` + port + `, name: grpc, protocol: GRPC}
  endpoints:
  - address: 127.0.0.1
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |
    extensionProviders:
    - name: otel
      opentelemetry: {service: otel.example.com, port: ` + port + `}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
  tracing:
  - providers: [{name: otel}]
    randomSamplingPercentage: 100
`
	m := startMesh(t, files)
	c := m.client("halyard-exec")
	status, _, body, err := get(c, "http://productpage:9080/", http.Header{"End-User": {"jason"}})
	if err != nil || status != 200 {
		t.Fatalf("productpage: status %d, err %v, body %s", status, err, body)
	}
	var r reply
	mustJSON(t, body, &r)
	if len(r.Calls) != 2 || r.Calls[1].Version != "v2" {
		t.Fatalf("productpage did not reach reviews v2: %s", body)
	}

	// exec→productpage, productpage→details, productpage→reviews,
	// reviews→ratings: a client and a server span each.
	const want = 8
	var spans []recvSpan
	waitFor(t, 15*time.Second, func() bool { spans = rv.received(); return len(spans) >= want })
	time.Sleep(1500 * time.Millisecond) // one more flush interval: nothing beyond the 8 may arrive
	spans = rv.received()
	if len(spans) != want {
		for _, s := range spans {
			t.Logf("%s %s %v", s.service, s.span.GetName(), s.span.GetKind())
		}
		t.Fatalf("%d spans, want %d", len(spans), want)
	}
	byID := map[string]recvSpan{}
	trace := hex.EncodeToString(spans[0].span.GetTraceId())
	for _, s := range spans {
		if id := hex.EncodeToString(s.span.GetTraceId()); id != trace {
			t.Errorf("span %s of %s in trace %s, want %s", s.span.GetName(), s.service, id, trace)
		}
		byID[hex.EncodeToString(s.span.GetSpanId())] = s
	}
	parentOf := func(s recvSpan) (recvSpan, bool) {
		p, ok := byID[hex.EncodeToString(s.span.GetParentSpanId())]
		return p, ok
	}
	roots := 0
	for _, s := range spans {
		if len(s.span.GetParentSpanId()) == 0 {
			roots++
			if s.service != "halyard-exec.default" || s.span.GetKind() != tracepb.Span_SPAN_KIND_CLIENT {
				t.Errorf("root span %s %v of %s, want the exec client's", s.span.GetName(), s.span.GetKind(), s.service)
			}
			continue
		}
		if _, ok := parentOf(s); !ok {
			t.Errorf("span %s of %s: parent %x not received", s.span.GetName(), s.service, s.span.GetParentSpanId())
		}
	}
	if roots != 1 {
		t.Errorf("%d root spans, want 1", roots)
	}
	// Walk up from ratings' server span: each hop's parent is the caller.
	chain := []struct {
		service string
		kind    tracepb.Span_SpanKind
		name    string
	}{
		{"ratings.default", tracepb.Span_SPAN_KIND_SERVER, "ratings.default.svc.cluster.local:9080/*"},
		{"reviews.default", tracepb.Span_SPAN_KIND_CLIENT, "ratings.default.svc.cluster.local:9080/*"},
		{"reviews.default", tracepb.Span_SPAN_KIND_SERVER, "reviews.default.svc.cluster.local:9080/*"},
		{"productpage.default", tracepb.Span_SPAN_KIND_CLIENT, "reviews.default.svc.cluster.local:9080/*"},
		{"productpage.default", tracepb.Span_SPAN_KIND_SERVER, "productpage.default.svc.cluster.local:9080/*"},
		{"halyard-exec.default", tracepb.Span_SPAN_KIND_CLIENT, "productpage.default.svc.cluster.local:9080/*"},
	}
	var cur recvSpan
	for _, s := range spans {
		if s.service == chain[0].service && s.span.GetKind() == chain[0].kind {
			cur = s
		}
	}
	for i, hop := range chain {
		if cur.span == nil {
			t.Fatalf("hop %d (%s %v): no span", i, hop.service, hop.kind)
		}
		if cur.service != hop.service || cur.span.GetKind() != hop.kind || cur.span.GetName() != hop.name {
			t.Fatalf("hop %d: span %s %v of %s, want %s %v of %s", i, cur.span.GetName(), cur.span.GetKind(), cur.service, hop.name, hop.kind, hop.service)
		}
		p, _ := parentOf(cur)
		cur = p
	}
}
