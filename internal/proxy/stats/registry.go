package stats

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

// MaxSeries bounds the series of each kind (HTTP, TCP); requests beyond it
// are counted in one series whose peer and service are "unknown", so a
// client sending ever new peer headers cannot grow the proxy's memory.
const MaxSeries = 4096

// httpKey is what distinguishes the HTTP series of one proxy.
type httpKey struct {
	inbound    bool
	grpc       bool
	code       int32
	grpcStatus int32
	flags      hcm.Flags
	peer       string // inbound: the peer metadata header; outbound: the host's workload
	principal  string // over mutual TLS: the peer's SPIFFE ID (inbound the client's, outbound the server's); else ""
	service    string // the cluster's service, else the authority
	ov         *Overrides
}

type httpSeries struct {
	// labels and drop are per metric: requests, duration, request
	// bytes, response bytes.
	labels   [4]string
	drop     [4]bool
	requests atomic.Uint64
	duration *histogram
	reqBytes *histogram
	resBytes *histogram
}

// tcpKey is what distinguishes the TCP series of one proxy.
type tcpKey struct {
	inbound   bool
	flags     hcm.Flags
	peer      string // outbound: the upstream host's workload
	principal string // over mutual TLS: the peer's SPIFFE ID
	service   string
	ov        *Overrides
}

// TCPSeries counts the connections and bytes of one TCP label set.
type TCPSeries struct {
	// labels and drop are per metric: opened, closed, sent, received.
	labels         [4]string
	drop           [4]bool
	opened, closed atomic.Uint64
	sent, received atomic.Uint64
}

// Registry holds one proxy's metrics. It is safe for concurrent use.
type Registry struct {
	self      Workload
	maxSeries int // MaxSeries; tests lower it

	mu       sync.RWMutex
	http     map[httpKey]*httpSeries
	httpByLb map[string]*httpSeries
	httpList []*httpSeries // in creation order
	tcp      map[tcpKey]*TCPSeries
	tcpByLb  map[string]*TCPSeries
	tcpList  []*TCPSeries
	// overrides interns Overrides by content.
	overrides map[string]*Overrides
}

// NewRegistry returns an empty registry for the proxy of that workload.
func NewRegistry(self Workload) *Registry {
	return &Registry{
		self: self, maxSeries: MaxSeries,
		http: map[httpKey]*httpSeries{}, httpByLb: map[string]*httpSeries{},
		tcp: map[tcpKey]*TCPSeries{}, tcpByLb: map[string]*TCPSeries{},
		overrides: map[string]*Overrides{},
	}
}

// ObserveHTTP records one completed request. It allocates nothing once
// the request's series exists.
func (r *Registry) ObserveHTTP(info *hcm.RequestInfo) {
	k := httpKey{inbound: info.Inbound, grpc: info.GRPC, code: int32(info.Status), grpcStatus: int32(info.GRPCStatus),
		flags: info.Flags, service: info.Service}
	k.ov, _ = info.Metrics.(*Overrides)
	if info.Inbound {
		k.peer = info.PeerMetadata
		if info.MutualTLS {
			k.principal = info.PeerPrincipal
		}
	} else {
		k.peer, k.principal = info.UpstreamWorkload, info.UpstreamPrincipal
	}
	if k.service == "" {
		k.service = info.Authority
	}
	r.mu.RLock()
	s := r.http[k]
	r.mu.RUnlock()
	if s == nil {
		s = r.newHTTP(k)
	}
	s.requests.Add(1)
	if !s.drop[1] {
		s.duration.observe(uint64(max(info.Duration, 0)))
	}
	if !s.drop[2] {
		s.reqBytes.observe(uint64(max(info.RequestBytes, 0)))
	}
	if !s.drop[3] {
		s.resBytes.observe(uint64(max(info.ResponseBytes, 0)))
	}
}

func (r *Registry) newHTTP(k httpKey) *httpSeries {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.http[k]; s != nil {
		return s
	}
	if len(r.http) >= r.maxSeries {
		k.peer, k.service = "", ""
		if s := r.http[k]; s != nil {
			return s
		}
	}
	proto := "http"
	if k.grpc {
		proto = "grpc"
	}
	grpcStatus := ""
	if k.grpcStatus >= 0 {
		grpcStatus = strconv.Itoa(int(k.grpcStatus))
	}
	code := strconv.Itoa(int(k.code))
	pairs := r.labels(k.inbound, k.peer, k.principal, k.service, proto, &code, &grpcStatus, k.flags)
	var labels [4]string
	var drop [4]bool
	for i := range labels {
		labels[i] = renderLabels(k.ov.apply(mRequests+metric(i), pairs))
		drop[i] = k.ov.dropped(mRequests + metric(i))
	}
	lb := seriesKey(labels, drop)
	s := r.httpByLb[lb]
	if s == nil {
		s = &httpSeries{labels: labels, drop: drop, duration: newHistogram(durationBuckets, 1e6),
			reqBytes: newHistogram(byteBuckets, 1), resBytes: newHistogram(byteBuckets, 1)}
		r.httpByLb[lb] = s
		r.httpList = append(r.httpList, s)
	}
	r.http[k] = s
	return s
}

// TCP returns the series of a TCP connection: inbound or outbound, its
// response flags, its peer's workload (outbound: the upstream host's;
// inbound: none), the peer's SPIFFE ID when the connection to it is mutual
// TLS (else "") and the cluster's service (see hcm.RequestInfo).
func (r *Registry) TCP(inbound bool, flags hcm.Flags, workload, principal, service string, ov *Overrides) *TCPSeries {
	k := tcpKey{inbound: inbound, flags: flags, peer: workload, principal: principal, service: service, ov: ov}
	r.mu.RLock()
	s := r.tcp[k]
	r.mu.RUnlock()
	if s != nil {
		return s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.tcp[k]; s != nil {
		return s
	}
	if len(r.tcp) >= r.maxSeries {
		k.peer, k.service = "", ""
		if s := r.tcp[k]; s != nil {
			return s
		}
	}
	pairs := r.labels(k.inbound, k.peer, k.principal, k.service, "tcp", nil, nil, k.flags)
	var labels [4]string
	var drop [4]bool
	for i := range labels {
		labels[i] = renderLabels(k.ov.apply(mTCPOpened+metric(i), pairs))
		drop[i] = k.ov.dropped(mTCPOpened + metric(i))
	}
	lb := seriesKey(labels, drop)
	s = r.tcpByLb[lb]
	if s == nil {
		s = &TCPSeries{labels: labels, drop: drop}
		r.tcpByLb[lb] = s
		r.tcpList = append(r.tcpList, s)
	}
	r.tcp[k] = s
	return s
}

// Opened counts a connection opened.
func (s *TCPSeries) Opened() { s.opened.Add(1) }

// Closed counts a connection closed after sent bytes went downstream and
// received bytes came from downstream.
func (s *TCPSeries) Closed(sent, received int64) {
	s.sent.Add(uint64(max(sent, 0)))
	s.received.Add(uint64(max(received, 0)))
	s.closed.Add(1)
}

// seriesKey identifies a series by its label sets and dropped metrics.
func seriesKey(labels [4]string, drop [4]bool) string {
	return fmt.Sprint(labels, drop)
}

// labels returns a series' labels in Istio's order. On the inbound side
// the peer is the source and this proxy the destination; on the outbound
// side the other way round. code and grpcStatus are nil for TCP. A peer
// with a principal was reached over mutual TLS: both principals are
// reported (this proxy's own and the peer's), and inbound Istio's
// connection_security_policy "mutual_tls" (outbound it stays "unknown",
// as Istio's client side reports it).
func (r *Registry) labels(inbound bool, peer, principal, service, proto string, code, grpcStatus *string, flags hcm.Flags) [][2]string {
	other, ok := ParseWorkload(peer)
	if !ok {
		other = UnknownWorkload()
	}
	self := r.self
	if principal == "" {
		self.Principal = Unknown // known to the peer only over mutual TLS
	} else {
		other.Principal = principal
	}
	src, dst := self, other
	reporter, policy := "source", Unknown
	if inbound {
		src, dst = other, self
		reporter, policy = "destination", "none"
		if principal != "" {
			policy = "mutual_tls"
		}
	}
	svc := ParseService(service)
	out := make([][2]string, 0, 25)
	add := func(k, v string) { out = append(out, [2]string{k, v}) }
	add("reporter", reporter)
	add("source_workload", src.Name)
	add("source_canonical_service", src.CanonicalService)
	add("source_canonical_revision", src.CanonicalRevision)
	add("source_workload_namespace", src.Namespace)
	add("source_principal", src.Principal)
	add("source_app", src.App)
	add("source_version", src.Version)
	add("source_cluster", src.Cluster)
	add("destination_workload", dst.Name)
	add("destination_workload_namespace", dst.Namespace)
	add("destination_principal", dst.Principal)
	add("destination_app", dst.App)
	add("destination_version", dst.Version)
	add("destination_service", svc.Host)
	add("destination_canonical_service", dst.CanonicalService)
	add("destination_canonical_revision", dst.CanonicalRevision)
	add("destination_service_name", svc.Name)
	add("destination_service_namespace", svc.Namespace)
	add("destination_cluster", dst.Cluster)
	add("request_protocol", proto)
	if code != nil {
		add("response_code", *code)
		add("grpc_response_status", *grpcStatus)
	}
	add("response_flags", flags.String())
	add("connection_security_policy", policy)
	return out
}

// escape escapes a label value for the Prometheus text format.
func escape(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

// TCPOpened counts a connection opened and returns what counts its close
// (listener.TCPStats).
func (r *Registry) TCPOpened(inbound bool, flags hcm.Flags, service, workload, principal string, metrics any) func(sent, received int64) {
	ov, _ := metrics.(*Overrides)
	s := r.TCP(inbound, flags, workload, principal, service, ov)
	s.Opened()
	return s.Closed
}
