package stats

import "io"

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
	var b []byte
	if len(httpList) > 0 {
		hdr := false
		for _, s := range httpList {
			if !s.drop[0] {
				b = headerOnce(b, &hdr, RequestsTotal, "counter", "Requests by source, destination and response.")
				b = appendSample(b, RequestsTotal, s.labels[0], "", float64(s.requests.Load()))
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
				}
			}
		}
	}
	_, err := w.Write(b)
	return err
}

// headerOnce writes a metric's HELP and TYPE lines before its first
// sample.
func headerOnce(b []byte, done *bool, name, typ, help string) []byte {
	if *done {
		return b
	}
	*done = true
	b = append(b, "# HELP "+name+" "+help+"\n"...)
	return append(b, "# TYPE "+name+" "+typ+"\n"...)
}
