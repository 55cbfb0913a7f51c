package stats

import (
	"io"
	"sync"
)

// Metric names.
const (
	RequestsTotal        = "istio_requests_total"
	RequestDuration      = "istio_request_duration_milliseconds"
	RequestBytes         = "istio_request_bytes"
	ResponseBytes        = "istio_response_bytes"
	TCPSentBytes         = "istio_tcp_sent_bytes_total"
	TCPReceivedBytes     = "istio_tcp_received_bytes_total"
	TCPConnectionsOpened = "istio_tcp_connections_opened_total"
	TCPConnectionsClosed = "istio_tcp_connections_closed_total"
)

// WritePrometheus writes every metric in the Prometheus text format
// (version 0.0.4).
func (r *Registry) WritePrometheus(w io.Writer) error {
	r.mu.RLock()
	httpList, tcpList := r.httpList, r.tcpList
	r.mu.RUnlock()
	// The exposition is written in chunks from a pooled buffer: a
	// sidecar's can be close to a megabyte (Istio's labels are long), too
	// much to build whole every scrape in a heap of a few megabytes.
	bp := expoBufs.Get().(*[]byte)
	defer func() { expoBufs.Put(bp) }()
	b := (*bp)[:0]
	var err error
	if len(httpList) > 0 {
		hdr := false
		for _, s := range httpList {
			if !s.drop[0] {
				b = headerOnce(b, &hdr, RequestsTotal, "counter", "Requests by source, destination and response.")
				b = appendSample(b, RequestsTotal, s.labels[0], "", float64(s.requests.Load()))
				if b, err = spill(w, b); err != nil {
					return err
				}
			}
		}
		hists := []struct {
			i          int
			name, help string
			get        func(*httpSeries) *histogram
		}{
			{1, RequestDuration, "Request duration in milliseconds.", func(s *httpSeries) *histogram { return s.duration }},
			{2, RequestBytes, "Request body size in bytes.", func(s *httpSeries) *histogram { return s.reqBytes }},
			{3, ResponseBytes, "Response body size in bytes.", func(s *httpSeries) *histogram { return s.resBytes }},
		}
		for _, h := range hists {
			hdr := false
			for _, s := range httpList {
				if !s.drop[h.i] {
					b = headerOnce(b, &hdr, h.name, "histogram", h.help)
					b = h.get(s).write(b, h.name, s.labels[h.i])
					if b, err = spill(w, b); err != nil {
						return err
					}
				}
			}
		}
	}
	if len(tcpList) > 0 {
		counters := []struct {
			i          int
			name, help string
			get        func(*TCPSeries) uint64
		}{
			{2, TCPSentBytes, "Bytes sent downstream on TCP connections.", func(s *TCPSeries) uint64 { return s.sent.Load() }},
			{3, TCPReceivedBytes, "Bytes received from downstream on TCP connections.", func(s *TCPSeries) uint64 { return s.received.Load() }},
			{0, TCPConnectionsOpened, "TCP connections opened.", func(s *TCPSeries) uint64 { return s.opened.Load() }},
			{1, TCPConnectionsClosed, "TCP connections closed.", func(s *TCPSeries) uint64 { return s.closed.Load() }},
		}
		for _, c := range counters {
			hdr := false
			for _, s := range tcpList {
				if !s.drop[c.i] {
					b = headerOnce(b, &hdr, c.name, "counter", c.help)
					b = appendSample(b, c.name, s.labels[c.i], "", float64(c.get(s)))
					if b, err = spill(w, b); err != nil {
						return err
					}
				}
			}
		}
	}
	*bp = b
	if len(b) > 0 {
		_, err = w.Write(b)
	}
	return err
}

// expoChunk is the size at which the exposition buffer is written out.
const expoChunk = 32 << 10

var expoBufs = sync.Pool{New: func() any { b := make([]byte, 0, expoChunk+16<<10); return &b }}

// spill writes b out once it holds a chunk, and returns it emptied.
func spill(w io.Writer, b []byte) ([]byte, error) {
	if len(b) < expoChunk {
		return b, nil
	}
	_, err := w.Write(b)
	return b[:0], err
}

// headerOnce writes a metric's HELP and TYPE lines before its first
// sample.
func headerOnce(b []byte, done *bool, name, typ, help string) []byte {
	if *done {
		return b
	}
	*done = true
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, help...)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typ...)
	return append(b, '\n')
}
