package hcm

import (
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Flags are Envoy-style response flags describing why a request ended the
// way it did.
type Flags uint32

// Response flags (Envoy's short codes in comments).
const (
	NoRouteFound                    Flags = 1 << iota // NR
	NoClusterFound                                    // NC
	NoHealthyUpstream                                 // UH
	UpstreamConnectionFailure                         // UF
	UpstreamConnectionTermination                     // UC
	UpstreamRequestTimeout                            // UT
	UpstreamRemoteReset                               // UR: reset after the response started
	DownstreamConnectionTermination                   // DC
	DirectResponse                                    // DR (direct_response route)
	UpstreamOverflow                                  // UO: a circuit breaker refused the request
	UpstreamRetryLimitExceeded                        // URX: retries exhausted (or refused by max_retries)
	DelayInjected                                     // DI: the fault filter delayed the request
	FaultInjected                                     // FI: the fault filter aborted the request
	RBACAccessDenied                                  // RBAC: the rbac filter denied the request
	UpstreamProtocolError                             // UPE: the upstream's response could not be used (a bad protocol switch)
)

var flagCodes = [...]string{"NR", "NC", "UH", "UF", "UC", "UT", "UR", "DC", "DR", "UO", "URX", "DI", "FI", "RBAC", "UPE"}

// String returns the flags as Envoy prints them ("UH,UF"), or "-".
func (f Flags) String() string {
	if f == 0 {
		return "-"
	}
	var b strings.Builder
	for i, code := range flagCodes {
		if f&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(code)
		}
	}
	return b.String()
}

// RequestInfo describes one request as it goes through the HCM. It is
// filled in as the request proceeds and handed to Options.OnDone at the end,
// which is where an access log or metrics filter plugs in.
type RequestInfo struct {
	Start        time.Time
	Duration     time.Duration
	Listener     string
	Protocol     string // downstream protocol, e.g. "HTTP/2.0"
	Method       string
	Authority    string
	Path         string
	RequestID    string
	RouteConfig  string
	VirtualHost  string
	Route        string
	Cluster      string
	UpstreamHost string
	Status       int // 0 when no response was sent (downstream went away)
	Flags        Flags
	// Details says in a few words why the proxy answered, delayed or
	// retried the request ("upstream request timeout", "fault filter
	// abort"); empty for a request forwarded without incident.
	Details string
	// Attempts counts the upstream attempts (1 + retries); 0 when the
	// request was answered without reaching the upstream.
	Attempts int

	// Telemetry.

	// Inbound is set for requests of an inbound listener.
	Inbound bool
	// MutualTLS is set when an inbound request came over mutual TLS;
	// PeerPrincipal is then the client's SPIFFE ID.
	MutualTLS     bool
	PeerPrincipal string
	// GRPC is set for gRPC requests (content-type application/grpc).
	GRPC bool
	// GRPCStatus is the response's grpc-status; -1 when there is none.
	GRPCStatus int
	// Service is the destination service of the chosen cluster
	// (upstream.Config.Service); "" when no cluster was chosen.
	Service string
	// UpstreamWorkload is the upstream host's workload identity
	// (upstream.Host.Workload).
	UpstreamWorkload string
	// UpstreamPrincipal is the upstream host's SPIFFE ID when the request
	// went to it over mutual TLS (upstream.Host.Principal); else "".
	UpstreamPrincipal string
	// Metrics is the listener's metric overrides (Config.Metrics).
	Metrics any
	// PeerMetadata is the x-envoy-peer-metadata an inbound request
	// carried (the client sidecar's workload).
	PeerMetadata string
	// Peer is the downstream connection's remote address
	// (Request.RemoteAddr, parsed).
	Peer netip.AddrPort
	// Remote is the client's address as Envoy determines it (its
	// downstream remote address): from X-Forwarded-For per the HCM's
	// use_remote_address and xff_num_trusted_hops, port 0; else the
	// peer's (Request.RemoteAddr).
	Remote netip.AddrPort
	// Request is the downstream request; valid only during OnDone and
	// the access loggers.
	Request *http.Request
	// RequestBytes is the request body size (its Content-Length; 0 when
	// unknown), ResponseBytes the response body bytes sent downstream.
	RequestBytes, ResponseBytes int64
}
