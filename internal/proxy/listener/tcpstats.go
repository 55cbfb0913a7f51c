package listener

import (
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

// TCPStats counts tcp_proxy connections (package stats implements it).
type TCPStats interface {
	// TCPOpened records a connection opened: inbound or outbound, its
	// response flags (a failed connect), the cluster's telemetry service,
	// its peer's workload (outbound: the upstream host's, see
	// hcm.RequestInfo; inbound: ""), the peer's SPIFFE ID when the
	// connection to it is mutual TLS (inbound the client's, outbound the
	// upstream host's; else ""), and the listener's metric overrides
	// (Config.Metrics). The returned func records its close with the
	// bytes sent downstream and received from downstream.
	TCPOpened(inbound bool, flags hcm.Flags, service, workload, principal string, metrics any) (closed func(sent, received int64))
}

func noTCPStats(int64, int64) {}

// tcpOpened reports a connection of a chosen chain to the TCP stats and
// returns what records its close: the tcp_proxy's access logs (an entry
// whose request fields are empty, as Envoy's for TCP), then the stats.
func (m *Manager) tcpOpened(cfg *Config, rt *tcpRoute) func(sent, received int64) {
	closed := noTCPStats
	if m.opts.TCPStats != nil {
		workload, principal := rt.workload, rt.upstreamPrincipal
		if cfg.Inbound {
			workload, principal = "", rt.peer
		}
		closed = m.opts.TCPStats.TCPOpened(cfg.Inbound, rt.flags, rt.service, workload, principal, cfg.Metrics)
	}
	if len(rt.tcp.AccessLogs) == 0 {
		return closed
	}
	return func(sent, received int64) {
		info := &hcm.RequestInfo{Start: rt.start, Duration: time.Since(rt.start), Listener: cfg.Name, Inbound: cfg.Inbound,
			Cluster: rt.cluster, Service: rt.service, UpstreamHost: rt.upstreamHost, UpstreamWorkload: rt.workload,
			Flags: rt.flags, Details: rt.details, RequestBytes: received, ResponseBytes: sent, GRPCStatus: -1}
		for _, l := range rt.tcp.AccessLogs {
			l.Log(info)
		}
		closed(sent, received)
	}
}
