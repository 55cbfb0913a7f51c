// Package tap streams the sidecar's completed HTTP requests to admin
// clients (GET /debug/tap): one JSON object per request, newline
// delimited, as they happen. Nothing is built while nobody taps (one
// atomic load per request); a slow client never blocks a request: events
// it cannot take are dropped and counted.
package tap

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/stats"
)

// Event is one completed request, the tap stream's line.
type Event struct {
	Time                 string  `json:"time"`
	Direction            string  `json:"direction"`
	Protocol             string  `json:"protocol"`
	Method               string  `json:"method"`
	Authority            string  `json:"authority"`
	Path                 string  `json:"path"`
	Status               int     `json:"status"`
	GRPCStatus           string  `json:"grpcStatus"`
	DurationMs           float64 `json:"durationMs"`
	Flags                string  `json:"flags"`
	SourceWorkload       string  `json:"sourceWorkload"`
	SourceNamespace      string  `json:"sourceNamespace"`
	DestinationService   string  `json:"destinationService"`
	DestinationWorkload  string  `json:"destinationWorkload"`
	DestinationNamespace string  `json:"destinationNamespace"`
	UpstreamHost         string  `json:"upstreamHost"`
}

// Buffer is how many events a client may lag behind before events are
// dropped for it.
const Buffer = 256

// Hub fans completed requests out to the tap clients.
type Hub struct {
	self    stats.Workload
	active  atomic.Int32
	dropped atomic.Uint64

	mu   sync.Mutex
	subs map[*sub]struct{}
}

type sub struct {
	filter  filter
	ch      chan []byte
	dropped atomic.Uint64
}

type filter struct{ authority, pathPrefix, method string }

func (f *filter) match(info *hcm.RequestInfo) bool {
	if f.authority != "" && info.Authority != f.authority && stripPort(info.Authority) != f.authority {
		return false
	}
	if f.method != "" && !strings.EqualFold(info.Method, f.method) {
		return false
	}
	return strings.HasPrefix(info.Path, f.pathPrefix)
}

func stripPort(h string) string {
	if i := strings.LastIndexByte(h, ':'); i > 0 && !strings.Contains(h[i:], "]") {
		return h[:i]
	}
	return h
}

// NewHub returns a hub for the sidecar of that workload.
func NewHub(self stats.Workload) *Hub {
	return &Hub{self: self, subs: map[*sub]struct{}{}}
}

// Dropped is the number of events dropped for slow clients.
func (h *Hub) Dropped() uint64 { return h.dropped.Load() }

// Publish sends a completed request to the clients whose filters match.
func (h *Hub) Publish(info *hcm.RequestInfo) {
	if h.active.Load() == 0 {
		return
	}
	var line []byte
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if !s.filter.match(info) {
			continue
		}
		if line == nil {
			b, err := json.Marshal(h.event(info))
			if err != nil {
				return
			}
			line = append(b, '\n')
		}
		select {
		case s.ch <- line:
		default:
			s.dropped.Add(1)
			h.dropped.Add(1)
		}
	}
}

// event builds the tap line of a request.
func (h *Hub) event(info *hcm.RequestInfo) *Event {
	e := &Event{
		Time: info.Start.UTC().Format(time.RFC3339Nano), Direction: "outbound", Protocol: "http",
		Method: info.Method, Authority: info.Authority, Path: info.Path, Status: info.Status,
		DurationMs: float64(info.Duration) / float64(time.Millisecond), Flags: info.Flags.String(),
		UpstreamHost: info.UpstreamHost,
	}
	if info.GRPC {
		e.Protocol = "grpc"
	}
	if info.GRPCStatus >= 0 {
		e.GRPCStatus = strconv.Itoa(info.GRPCStatus)
	}
	svc := info.Service
	if svc == "" {
		svc = info.Authority
	}
	e.DestinationService = stats.ParseService(svc).Host
	src, dst := h.self, peer(info.UpstreamWorkload)
	if info.Inbound {
		e.Direction = "inbound"
		src, dst = peer(info.PeerMetadata), h.self
	}
	e.SourceWorkload, e.SourceNamespace = src.Name, src.Namespace
	e.DestinationWorkload, e.DestinationNamespace = dst.Name, dst.Namespace
	return e
}

func peer(encoded string) stats.Workload {
	w, ok := stats.ParseWorkload(encoded)
	if !ok {
		return stats.UnknownWorkload()
	}
	return w
}

// ServeHTTP streams events to one client until it goes away. Query
// parameters filter them: authority (exact, with or without the port),
// path (prefix) and method.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s := &sub{filter: filter{authority: q.Get("authority"), pathPrefix: q.Get("path"), method: q.Get("method")},
		ch: make(chan []byte, Buffer)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.active.Add(1)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.active.Add(-1)
		h.mu.Unlock()
	}()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	ctx := r.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case line := <-s.ch:
			if _, err := w.Write(line); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}
