package tracing

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

func TestExtractInject(t *testing.T) {
	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, tc := range []struct {
		name    string
		h       http.Header
		sampled bool
		b3      uint8
	}{
		{"traceparent", http.Header{"Traceparent": {"00-" + tid + "-" + sid + "-01"}}, true, 0},
		{"traceparent unsampled", http.Header{"Traceparent": {"00-" + tid + "-" + sid + "-00"}}, false, 0},
		{"b3 single", http.Header{"B3": {tid + "-" + sid + "-1"}}, true, 2},
		{"b3 multi", http.Header{"X-B3-Traceid": {tid}, "X-B3-Spanid": {sid}, "X-B3-Sampled": {"1"}}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(Config{SamplingPercent: 0})
			r := httptest.NewRequest("GET", "/", nil)
			r.Header = tc.h
			var sp hcm.Span
			tr.Begin(r, &sp)
			if hex.EncodeToString(sp.TraceID[:]) != tid || hex.EncodeToString(sp.ParentID[:]) != sid || sp.Sampled != tc.sampled || sp.B3 != tc.b3 {
				t.Fatalf("span %x parent %x sampled %v b3 %d", sp.TraceID, sp.ParentID, sp.Sampled, sp.B3)
			}
			if sp.SpanID == [8]byte{} || hex.EncodeToString(sp.SpanID[:]) == sid {
				t.Fatalf("span id %x not new", sp.SpanID)
			}
			out := http.Header{}
			tr.Inject(&sp, out)
			flag := "00"
			if tc.sampled {
				flag = "01"
			}
			if want := "00-" + tid + "-" + hex.EncodeToString(sp.SpanID[:]) + "-" + flag; out.Get("Traceparent") != want {
				t.Errorf("traceparent %q, want %q", out.Get("Traceparent"), want)
			}
			switch tc.b3 {
			case 1:
				if out.Get("X-B3-Spanid") != hex.EncodeToString(sp.SpanID[:]) || out.Get("X-B3-Parentspanid") != sid || out.Get("X-B3-Traceid") != tid {
					t.Errorf("b3 headers %v", out)
				}
			case 2:
				if want := tid + "-" + hex.EncodeToString(sp.SpanID[:]) + "-1-" + sid; out.Get("B3") != want {
					t.Errorf("b3 %q, want %q", out.Get("B3"), want)
				}
			}
		})
	}
}

func TestSamplingNewTraces(t *testing.T) {
	var n float64
	tr := New(Config{SamplingPercent: 10, Rand: func() float64 { n += 0.01; return n - 0.01 }}) // 0, 0.01, ... 0.99
	sampled := 0
	for range 100 {
		var sp hcm.Span
		tr.Begin(httptest.NewRequest("GET", "/", nil), &sp)
		if sp.Sampled {
			sampled++
		}
		if sp.TraceID == [16]byte{} || sp.ParentID != [8]byte{} {
			t.Fatalf("root span %x parent %x", sp.TraceID, sp.ParentID)
		}
	}
	if sampled != 10 {
		t.Fatalf("%d of 100 new traces sampled at 10%%, want 10", sampled)
	}
	// Malformed context starts a new trace.
	var sp hcm.Span
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Traceparent", "00-zz-00f067aa0ba902b7-01")
	tr.Begin(r, &sp)
	if sp.ParentID != [8]byte{} {
		t.Fatal("malformed traceparent used as parent")
	}
}

// receiver is an OTLP trace receiver (gRPC) on a real socket.
type receiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	names []string // service.name of each span
}

func (rv *receiver) export(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	var td tracepb.TracesData
	if err := dec(&td); err != nil {
		return nil, err
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	for _, rs := range td.GetResourceSpans() {
		name := rs.GetResource().GetAttributes()[0].GetValue().GetStringValue()
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				rv.spans = append(rv.spans, s)
				rv.names = append(rv.names, name)
			}
		}
	}
	return &emptypb.Empty{}, nil
}

func startReceiver(t *testing.T) (*receiver, string) {
	rv := &receiver{}
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
	return rv, ln.Addr().String()
}

type addrDialer string

func (a addrDialer) DialCluster(ctx context.Context, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", string(a))
}

func TestExportGRPC(t *testing.T) {
	rv, addr := startReceiver(t)
	exps := NewExporters(addrDialer(addr), "sidecar~1", slog.New(slog.DiscardHandler))
	tr := New(Config{Exporter: exps.Get(Destination{Cluster: "outbound|4317||otel", Authority: "otel:4317"}), ServiceName: "reviews.default",
		SamplingPercent: 100, Tags: []Tag{{Name: "istio.namespace", Literal: "default"}, {Name: "end-user", Header: "End-User", Default: "none"}}})
	for i := range 3 {
		var sp hcm.Span
		r := httptest.NewRequest("GET", "http://reviews:9080/r", nil)
		tr.Begin(r, &sp)
		tr.End(&sp, &hcm.RequestInfo{Request: r, Start: time.Now(), Duration: time.Millisecond, Method: "GET", Authority: "reviews:9080",
			Path: "/r", Status: 200 + 300*(i/2), Cluster: "outbound|9080||reviews.default.svc.cluster.local",
			Service: "reviews.default.svc.cluster.local;reviews;default", GRPCStatus: -1})
	}
	exps.Close() // flushes
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if len(rv.spans) != 3 {
		t.Fatalf("%d spans received, want 3", len(rv.spans))
	}
	s := rv.spans[0]
	attrs := map[string]string{}
	for _, kv := range s.GetAttributes() {
		attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	if s.GetName() != "reviews.default.svc.cluster.local:9080/*" || s.GetKind() != tracepb.Span_SPAN_KIND_CLIENT || rv.names[0] != "reviews.default" ||
		attrs["http.method"] != "GET" || attrs["http.status_code"] != "200" || attrs["istio.namespace"] != "default" ||
		attrs["end-user"] != "none" || attrs["node_id"] != "sidecar~1" || attrs["upstream_cluster"] != "outbound|9080||reviews.default.svc.cluster.local" {
		t.Errorf("span %s %v attrs %v", s.GetName(), s.GetKind(), attrs)
	}
	if rv.spans[2].GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("500 span status %v", rv.spans[2].GetStatus())
	}
}

func TestExportHTTP(t *testing.T) {
	got := make(chan int, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var td tracepb.TracesData
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(b, &td) != nil {
			w.WriteHeader(400)
			return
		}
		got <- len(td.GetResourceSpans()[0].GetScopeSpans()[0].GetSpans())
	}))
	defer srv.Close()
	exps := NewExporters(addrDialer(srv.Listener.Addr().String()), "n", slog.New(slog.DiscardHandler))
	tr := New(Config{Exporter: exps.Get(Destination{Cluster: "c", Authority: "otel:4318", HTTP: true}), SamplingPercent: 100})
	var sp hcm.Span
	r := httptest.NewRequest("GET", "/", nil)
	tr.Begin(r, &sp)
	tr.End(&sp, &hcm.RequestInfo{Request: r, Start: time.Now(), Status: 200, GRPCStatus: -1})
	exps.Close()
	select {
	case n := <-got:
		if n != 1 {
			t.Fatalf("%d spans, want 1", n)
		}
	default:
		t.Fatal("no export received")
	}
}

// An unreachable collector never blocks requests: spans are dropped.
func TestQueueFullDrops(t *testing.T) {
	x := &Exporter{ch: make(chan item, 2)}
	for range 5 {
		x.enqueue(nil, &tracepb.Span{})
	}
	if x.Dropped() != 3 {
		t.Fatalf("dropped %d, want 3", x.Dropped())
	}
}
