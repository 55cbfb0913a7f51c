package listener

import "github.com/halyard-mesh/halyard/internal/proxy/hcm"

// TCPStats counts tcp_proxy connections (package stats implements it).
type TCPStats interface {
	// TCPOpened records a connection opened: inbound or outbound, its
	// response flags (a failed connect), the cluster's telemetry service
	// and the upstream host's workload (see hcm.RequestInfo). The
	// returned func records its close with the bytes sent downstream and
	// received from downstream.
	TCPOpened(inbound bool, flags hcm.Flags, service, workload string) (closed func(sent, received int64))
}

func noTCPStats(int64, int64) {}

// tcpOpened reports a connection of a chosen chain to the TCP stats.
func (m *Manager) tcpOpened(cfg *Config, rt *tcpRoute) func(sent, received int64) {
	if m.opts.TCPStats == nil {
		return noTCPStats
	}
	return m.opts.TCPStats.TCPOpened(cfg.Inbound, rt.flags, rt.service, rt.workload)
}
