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
		b = header(b, RequestsTotal, "counter", "Requests by source, destination and response.")
		for _, s := range httpList {
			b = appendSample(b, RequestsTotal, s.labels, "", float64(s.requests.Load()))
		}
		hists := []struct {
			name, help string
			get        func(*httpSeries) *histogram
		}{
			{RequestDuration, "Request duration in milliseconds.", func(s *httpSeries) *histogram { return s.duration }},
			{RequestBytes, "Request body size in bytes.", func(s *httpSeries) *histogram { return s.reqBytes }},
			{ResponseBytes, "Response body size in bytes.", func(s *httpSeries) *histogram { return s.resBytes }},
		}
		for _, h := range hists {
			b = header(b, h.name, "histogram", h.help)
			for _, s := range httpList {
				b = h.get(s).write(b, h.name, s.labels)
			}
		}
	}
	if len(tcpList) > 0 {
		counters := []struct {
			name, help string
			get        func(*TCPSeries) uint64
		}{
			{TCPSentBytes, "Bytes sent downstream on TCP connections.", func(s *TCPSeries) uint64 { return s.sent.Load() }},
			{TCPReceivedBytes, "Bytes received from downstream on TCP connections.", func(s *TCPSeries) uint64 { return s.received.Load() }},
			{TCPConnectionsOpened, "TCP connections opened.", func(s *TCPSeries) uint64 { return s.opened.Load() }},
			{TCPConnectionsClosed, "TCP connections closed.", func(s *TCPSeries) uint64 { return s.closed.Load() }},
		}
		for _, c := range counters {
			b = header(b, c.name, "counter", c.help)
			for _, s := range tcpList {
				b = appendSample(b, c.name, s.labels, "", float64(c.get(s)))
			}
		}
	}
	_, err := w.Write(b)
	return err
}

func header(b []byte, name, typ, help string) []byte {
	b = append(b, "# HELP "+name+" "+help+"\n"...)
	return append(b, "# TYPE "+name+" "+typ+"\n"...)
}
