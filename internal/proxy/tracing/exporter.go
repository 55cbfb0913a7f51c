package tracing

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Batching limits.
const (
	// QueueSize is how many spans wait for export; beyond it spans are
	// dropped (and counted), never blocking a request.
	QueueSize = 4096
	// BatchSize is the most spans sent in one export.
	BatchSize = 512
	// FlushInterval is how often a partial batch is sent.
	FlushInterval = time.Second
	exportTimeout = 5 * time.Second
)

// Dialer connects to one endpoint of an upstream cluster (the collector
// is a mesh service, reached through the proxy's own clusters).
type Dialer interface {
	DialCluster(ctx context.Context, cluster string) (net.Conn, error)
}

// Destination is where an exporter sends spans: OTLP over gRPC, or over
// HTTP (protobuf) when HTTP is set, to Path (default /v1/traces).
type Destination struct {
	Cluster   string
	Authority string
	HTTP      bool
	Path      string
}

// Exporters owns the proxy's exporters, one per destination, and their
// goroutines; Close flushes and stops them.
type Exporters struct {
	dial   Dialer
	node   string
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	byDst   map[Destination]*Exporter
	closers []func() error
}

// NewExporters returns an empty set for the proxy of that node ID.
func NewExporters(dial Dialer, node string, log *slog.Logger) *Exporters {
	ctx, cancel := context.WithCancel(context.Background())
	return &Exporters{dial: dial, node: node, log: log, ctx: ctx, cancel: cancel, byDst: map[Destination]*Exporter{}}
}

// Get returns the exporter of a destination, starting it the first time.
func (e *Exporters) Get(d Destination) *Exporter {
	if d.HTTP && d.Path == "" {
		d.Path = "/v1/traces"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.byDst[d]; x != nil {
		return x
	}
	x := &Exporter{dst: d, node: e.node, ch: make(chan item, QueueSize), log: e.log}
	x.send = e.sender(d)
	e.byDst[d] = x
	if e.ctx.Err() == nil {
		e.wg.Go(func() { x.run(e.ctx) })
	}
	return x
}

// Close flushes what is queued and stops every exporter.
func (e *Exporters) Close() {
	e.cancel()
	e.wg.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.closers {
		_ = c()
	}
	e.closers = nil
}

// ExportMethod is OTLP's gRPC trace export method. Its request,
// ExportTraceServiceRequest, has the wire form of TracesData (field 1,
// repeated ResourceSpans), which is what is sent: the collector package's
// generated code would link grpc-gateway into the sidecar. The response is
// read as Empty (its partial_success is ignored).
const ExportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

type sendFunc func(ctx context.Context, req *tracepb.TracesData) error

func (e *Exporters) sender(d Destination) sendFunc {
	dial := func(ctx context.Context) (net.Conn, error) { return e.dial.DialCluster(ctx, d.Cluster) }
	if d.HTTP {
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) }}
		e.closers = append(e.closers, func() error { tr.CloseIdleConnections(); return nil }) // under e.mu (Get)
		client := &http.Client{Timeout: exportTimeout, Transport: tr}
		url := "http://" + d.Authority + d.Path
		return func(ctx context.Context, req *tracepb.TracesData) error {
			body, err := proto.Marshal(req)
			if err != nil {
				return err
			}
			hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				return err
			}
			hr.Header.Set("Content-Type", "application/x-protobuf")
			res, err := client.Do(hr)
			if err != nil {
				return err
			}
			defer res.Body.Close()
			_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
			if res.StatusCode/100 != 2 {
				return fmt.Errorf("status %d", res.StatusCode)
			}
			return nil
		}
	}
	var (
		once sync.Once
		conn *grpc.ClientConn
		err  error
	)
	return func(ctx context.Context, req *tracepb.TracesData) error {
		once.Do(func() {
			conn, err = grpc.NewClient("passthrough:///"+d.Authority,
				grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithNoProxy(),
				grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return dial(ctx) }))
			if err == nil {
				e.mu.Lock()
				e.closers = append(e.closers, conn.Close)
				e.mu.Unlock()
			}
		})
		if err != nil {
			return err
		}
		return conn.Invoke(ctx, ExportMethod, req, &emptypb.Empty{})
	}
}

// item is one finished span and the resource (service) it belongs to.
type item struct {
	res  *resourcepb.Resource
	span *tracepb.Span
}

// Exporter batches spans for one destination.
type Exporter struct {
	dst     Destination
	node    string
	ch      chan item
	send    sendFunc
	log     *slog.Logger
	dropped atomic.Uint64
	sent    atomic.Uint64
}

// Dropped counts spans dropped because the queue was full or the export
// failed.
func (x *Exporter) Dropped() uint64 { return x.dropped.Load() }

// enqueue hands a span to the exporter without blocking.
func (x *Exporter) enqueue(res *resourcepb.Resource, s *tracepb.Span) {
	select {
	case x.ch <- item{res, s}:
	default:
		x.dropped.Add(1)
	}
}

func (x *Exporter) run(ctx context.Context) {
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	batch := make([]item, 0, BatchSize)
	for {
		select {
		case it := <-x.ch:
			if batch = append(batch, it); len(batch) >= BatchSize {
				batch = x.flush(batch)
			}
		case <-t.C:
			batch = x.flush(batch)
		case <-ctx.Done():
			for {
				select {
				case it := <-x.ch:
					batch = append(batch, it)
					continue
				default:
				}
				break
			}
			x.flush(batch)
			return
		}
	}
}

// flush exports a batch (spans grouped by resource) and returns the
// emptied batch.
func (x *Exporter) flush(batch []item) []item {
	if len(batch) == 0 {
		return batch
	}
	req := &tracepb.TracesData{}
	byRes := map[*resourcepb.Resource]*tracepb.ScopeSpans{}
	for _, it := range batch {
		ss := byRes[it.res]
		if ss == nil {
			ss = &tracepb.ScopeSpans{}
			byRes[it.res] = ss
			req.ResourceSpans = append(req.ResourceSpans, &tracepb.ResourceSpans{Resource: it.res, ScopeSpans: []*tracepb.ScopeSpans{ss}})
		}
		ss.Spans = append(ss.Spans, it.span)
	}
	ctx, cancel := context.WithTimeout(context.Background(), exportTimeout)
	defer cancel()
	if err := x.send(ctx, req); err != nil {
		x.dropped.Add(uint64(len(batch)))
		x.log.Debug("tracing: export failed", "cluster", x.dst.Cluster, "spans", len(batch), "error", err)
	} else {
		x.sent.Add(uint64(len(batch)))
	}
	clear(batch)
	return batch[:0]
}
