// Package upstream holds the proxy's clusters: their endpoints, load
// balancers, connection pools, circuit breakers and outlier detection.
//
// Cluster objects are keyed by name and survive configuration updates, so
// their connection pools (one http.Transport per cluster), load balancer
// state, circuit-breaker counters and per-host state (outlier ejections)
// are kept across CDS/EDS pushes. Readers get the current cluster map and
// picker through atomic pointers; only updates and outlier ejections take a
// lock.
package upstream

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Type is the cluster discovery type.
type Type uint8

// Cluster discovery types.
const (
	EDS Type = iota
	Static
	StrictDNS
	LogicalDNS
	OriginalDst
)

func (t Type) String() string {
	switch t {
	case EDS:
		return "EDS"
	case Static:
		return "STATIC"
	case StrictDNS:
		return "STRICT_DNS"
	case LogicalDNS:
		return "LOGICAL_DNS"
	case OriginalDst:
		return "ORIGINAL_DST"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Protocol is the protocol spoken to the cluster's endpoints.
type Protocol uint8

// Upstream protocols.
const (
	HTTP1 Protocol = iota
	H2C            // HTTP/2 with prior knowledge, cleartext
)

// Config is the compiled form of an Envoy Cluster. Its zero value is a
// usable cluster: round robin, Envoy's default circuit breakers, no idle
// timeout, no outlier detection, no panic threshold.
type Config struct {
	Name           string
	Type           Type
	EDSServiceName string // the ClusterLoadAssignment name for EDS clusters
	ConnectTimeout time.Duration
	Policy         Policy
	Protocol       Protocol
	// Endpoints are the load_assignment endpoints of non-EDS clusters.
	Endpoints []EndpointConfig
	// DNSRefreshRate and DNSLookupFamily are a STRICT_DNS cluster's
	// dns_refresh_rate (0: Envoy's 5 s) and dns_lookup_family (dns.go).
	DNSRefreshRate  time.Duration
	DNSLookupFamily DNSLookupFamily
	// Service is the destination service for telemetry, as compile
	// encodes the cluster's filter_metadata["istio"].services (package
	// stats reads it); "" when unknown.
	Service string

	LB LBConfig
	// Limits are the DEFAULT-priority circuit breakers; nil means Envoy's
	// defaults (DefaultThresholds).
	Limits *Thresholds
	Pool   PoolConfig
	// Outlier is outlier_detection; nil turns it off.
	Outlier *OutlierConfig
	// HealthyPanicThreshold is common_lb_config.healthy_panic_threshold in
	// percent: while fewer hosts than that are healthy (not ejected), the
	// cluster balances over all hosts. 0 turns panic mode off; Envoy's
	// default (filled in by compile) is 50.
	HealthyPanicThreshold float64
	// TLS is the TLS of the endpoints with MTLS set, or of every endpoint
	// (TLS.AllHosts); nil: every endpoint is plaintext.
	TLS *TLS
}

// LBConfig holds the parameters of the hashing load balancers.
type LBConfig struct {
	MinRingSize, MaxRingSize uint64 // ring_hash_lb_config; 0: defaults
	MaglevTableSize          uint64 // maglev_lb_config.table_size (prime); 0: 65537
}

// PoolConfig is the connection pool's configuration.
type PoolConfig struct {
	// TCPKeepalive is upstream_connection_options.tcp_keepalive; nil keeps
	// the proxy's default (probes after 30 s idle).
	TCPKeepalive *Keepalive
	// IdleTimeout closes connections idle that long (common_http_protocol_
	// options.idle_timeout); 0: never.
	IdleTimeout time.Duration
	// MaxRequestsPerConnection closes an HTTP/1.1 connection after that
	// many requests; 0: no limit.
	MaxRequestsPerConnection uint32
	HTTP2                    HTTP2Options
}

// Keepalive is TCP keepalive; zero fields keep the system's default.
type Keepalive struct {
	Probes         uint32
	Time, Interval time.Duration
}

// HTTP2Options are the http2_protocol_options the proxy honours.
type HTTP2Options struct {
	InitialStreamWindowSize     uint32
	InitialConnectionWindowSize uint32
	HpackTableSize              uint32
	// KeepaliveInterval sends a PING after that long without frames;
	// KeepaliveTimeout closes the connection when it is not answered.
	KeepaliveInterval, KeepaliveTimeout time.Duration
}

// EndpointConfig is one endpoint of a cluster.
type EndpointConfig struct {
	Address string // host:port
	Weight  uint32
	// Workload is the endpoint's workload identity for telemetry, as
	// compile encodes filter_metadata["istio"] (package stats reads it);
	// "" when unknown.
	Workload string
	// MTLS is set when the endpoint has a sidecar (metadata
	// envoy.transport_socket_match tlsMode "istio"): it is dialled with
	// the cluster's TLS, if any.
	MTLS bool
}

// Host is one upstream endpoint. Host objects are reused across endpoint
// updates (keyed by address) so that per-host state survives them.
type Host struct {
	Address  string
	Weight   uint32
	Workload string // see EndpointConfig.Workload
	MTLS     bool   // see EndpointConfig.MTLS
	// Active counts requests in flight to the host.
	Active atomic.Int64

	cluster *Cluster
	health  *hostHealth // shared by every Host object of the address
	peer    *hostPeer   // likewise
}

// Ejected reports whether outlier detection currently ejects the host.
func (h *Host) Ejected() bool { return h.health != nil && h.health.ejected.Load() }

// Cluster is a named upstream cluster. It is safe for concurrent use.
type Cluster struct {
	name   string
	log    *slog.Logger
	clock  Clock
	cfg    atomic.Pointer[Config]
	pools  atomic.Pointer[pools]
	dialer atomic.Pointer[net.Dialer] // for TCP proxy connections
	lb     atomic.Pointer[lbState]
	cursor atomic.Uint64 // round robin position, kept across rebuilds

	admission

	mu        sync.Mutex // guards the fields below
	hosts     []*Host    // sorted by address
	byAddr    map[string]*Host
	allPicker Picker // over all hosts; nil when the hosts or policy changed
	timer     Timer  // outlier detection's interval, while armed
	timerGen  uint64 // identifies the current timer
	removed   bool
	origDst   *origDstHosts // ORIGINAL_DST clusters only
	dns       *dnsState     // STRICT_DNS clusters only (dns.go)
	lookup    LookupFunc
}

// lbState is the immutable load-balancing view of a cluster.
type lbState struct {
	picker  Picker  // nil: no host may be picked
	hosts   []*Host // every host
	healthy int     // hosts not ejected
	panic   bool    // balancing over all hosts below the panic threshold
}

// Name returns the cluster name.
func (c *Cluster) Name() string { return c.name }

// Config returns the cluster's current configuration.
func (c *Cluster) Config() *Config { return c.cfg.Load() }

// Transport returns the cluster's connection pool. It enforces connect
// timeouts, keepalive, idle timeouts and max_connections (as
// MaxConnsPerHost); RoundTrip adds max_requests_per_connection.
func (c *Cluster) Transport() *http.Transport { return c.connPools().t }

// Pick chooses an endpoint for the request among the healthy hosts (all
// hosts in panic mode), or returns nil when there is none: answer 503 UH.
func (c *Cluster) Pick(req *PickRequest) *Host {
	s := c.lb.Load()
	if s == nil || s.picker == nil {
		return nil
	}
	return s.picker.Pick(req)
}

// Hosts returns the cluster's current endpoints, ejected ones included.
func (c *Cluster) Hosts() []*Host {
	if s := c.lb.Load(); s != nil {
		return s.hosts
	}
	return nil
}

// Manager owns every cluster. Get is lock-free; updates are serialised.
type Manager struct {
	log      *slog.Logger
	clock    Clock
	mu       sync.Mutex
	clusters atomic.Pointer[map[string]*Cluster]
	// assignments is the last EDS state by service name; it is kept for
	// names whose cluster is not (yet) known.
	assignments map[string][]EndpointConfig
	lookup      LookupFunc // STRICT_DNS clusters' resolver
}

// NewManager returns an empty cluster manager.
func NewManager(log *slog.Logger, opts ...Option) *Manager {
	m := &Manager{log: log, clock: realClock{}, assignments: make(map[string][]EndpointConfig), lookup: systemLookup}
	for _, o := range opts {
		o(m)
	}
	empty := make(map[string]*Cluster)
	m.clusters.Store(&empty)
	return m
}

// Get returns the named cluster or nil.
func (m *Manager) Get(name string) *Cluster {
	return (*m.clusters.Load())[name]
}

// Names returns the names of the current clusters, sorted.
func (m *Manager) Names() []string {
	cs := *m.clusters.Load()
	names := make([]string, 0, len(cs))
	for n := range cs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Validate checks what UpdateClusters would reject, without applying it.
func Validate(cfg *Config) error {
	if cfg.Type != OriginalDst {
		if _, ok := builders[cfg.Policy]; !ok {
			return fmt.Errorf("load balancing policy %v is not supported", cfg.Policy)
		}
	}
	if cfg.Policy == Maglev && cfg.LB.MaglevTableSize != 0 && !isPrime(cfg.LB.MaglevTableSize) {
		return fmt.Errorf("maglev table size %d is not a prime number", cfg.LB.MaglevTableSize)
	}
	if cfg.LB.MinRingSize > 0 && cfg.LB.MaxRingSize > 0 && cfg.LB.MinRingSize > cfg.LB.MaxRingSize {
		return fmt.Errorf("ring hash minimum_ring_size %d is larger than maximum_ring_size %d", cfg.LB.MinRingSize, cfg.LB.MaxRingSize)
	}
	if o := cfg.Outlier; o != nil && o.Interval <= 0 {
		return errors.New("outlier detection interval must be positive")
	}
	return nil
}

// UpdateClusters makes cfgs the complete set of clusters. Clusters that
// keep their name keep their connection pool (unless a pool setting
// changed), their hosts with their outlier state, their circuit-breaker
// counters and their load balancer position; removed clusters close their
// idle connections and stop their timers.
func (m *Manager) UpdateClusters(cfgs []Config) error {
	for i := range cfgs {
		if err := Validate(&cfgs[i]); err != nil {
			return fmt.Errorf("upstream: cluster %q: %w", cfgs[i].Name, err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.clusters.Load()
	next := make(map[string]*Cluster, len(cfgs))
	for i := range cfgs {
		cfg := cfgs[i] // the cluster keeps its own copy
		c, ok := old[cfg.Name]
		if !ok {
			c = m.newCluster(cfg.Name)
		}
		c.update(&cfg, m.endpointsFor(&cfg))
		next[cfg.Name] = c
	}
	m.clusters.Store(&next)
	for name, c := range old {
		if _, ok := next[name]; !ok {
			c.close()
		}
	}
	return nil
}

func (m *Manager) newCluster(name string) *Cluster {
	c := &Cluster{name: name, log: m.log, clock: m.clock, byAddr: make(map[string]*Host), lookup: m.lookup}
	c.admission.init()
	return c
}

// UpdateEndpoints makes assignments (by EDS service name) the complete EDS
// state and re-balances the EDS clusters that use them.
func (m *Manager) UpdateEndpoints(assignments map[string][]EndpointConfig) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.assignments = assignments
	for _, c := range *m.clusters.Load() {
		cfg := c.cfg.Load()
		if cfg.Type == EDS {
			c.mu.Lock()
			c.setHostsLocked(m.endpointsFor(cfg), false)
			c.mu.Unlock()
		}
	}
}

// HasAssignment reports whether EDS data was received for a service name.
func (m *Manager) HasAssignment(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.assignments[name]
	return ok
}

func (m *Manager) endpointsFor(cfg *Config) []EndpointConfig {
	switch cfg.Type {
	case EDS:
		return m.assignments[cfg.EDSServiceName]
	case OriginalDst:
		return nil
	}
	return cfg.Endpoints
}

// Close closes every cluster's idle connections and stops their timers.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range *m.clusters.Load() {
		c.close()
	}
}

// update installs a new configuration. Callers hold Manager.mu.
func (c *Cluster) update(cfg *Config, eps []EndpointConfig) {
	prev := c.cfg.Swap(cfg)
	c.mu.Lock()
	revived := c.removed // its pools were closed for good
	c.mu.Unlock()
	if prev == nil || revived || poolKeyOf(prev) != poolKeyOf(cfg) {
		// In-flight requests finish on the old pool, whose connections
		// then close instead of going idle.
		c.dialer.Store(newDialer(cfg))
		// The pools are made at the first request: most of a large mesh's
		// clusters never carry one from a given sidecar.
		if p := c.pools.Swap(nil); p != nil {
			p.close(true)
		}
	}
	c.admission.configure(cfg)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removed = false
	if cfg.Type == OriginalDst && c.origDst == nil {
		c.origDst = &origDstHosts{c: c, hosts: make(map[string]*Host)}
	}
	force := prev == nil || prev.Type != cfg.Type || prev.Policy != cfg.Policy || prev.LB != cfg.LB ||
		prev.HealthyPanicThreshold != cfg.HealthyPanicThreshold
	if c.outlierUpdateLocked(prev, cfg) {
		force = true
	}
	c.setHostsLocked(c.dnsEndpointsLocked(cfg, eps), force)
}

// close stops the cluster's timers and closes its idle connections.
func (c *Cluster) close() {
	c.mu.Lock()
	c.removed = true
	c.stopTimerLocked()
	c.stopDNSLocked()
	c.mu.Unlock()
	if p := c.pools.Load(); p != nil {
		p.close(true)
	}
}

// setHostsLocked installs a new endpoint set, reusing Host objects (and so
// their active counts and outlier state) by address. Hosts are kept sorted
// by address so that hash rings and Maglev tables are the same in every
// proxy whatever the order of the endpoints.
func (c *Cluster) setHostsLocked(eps []EndpointConfig, force bool) {
	changed := force || c.lb.Load() == nil
	hosts := make([]*Host, 0, len(eps))
	seen := make(map[string]*Host, len(eps))
	for _, ep := range eps {
		if _, dup := seen[ep.Address]; dup {
			continue
		}
		h, ok := c.byAddr[ep.Address]
		switch {
		case !ok:
			h = &Host{Address: ep.Address, Weight: ep.Weight, Workload: ep.Workload, MTLS: ep.MTLS, cluster: c, health: &hostHealth{}, peer: &hostPeer{}}
			changed = true
		case h.Weight != ep.Weight || h.Workload != ep.Workload || h.MTLS != ep.MTLS:
			h = &Host{Address: ep.Address, Weight: ep.Weight, Workload: ep.Workload, MTLS: ep.MTLS, cluster: c, health: h.health, peer: h.peer}
			changed = true
		}
		seen[ep.Address] = h
		hosts = append(hosts, h)
	}
	if len(seen) != len(c.byAddr) {
		changed = true
	}
	if !changed {
		return
	}
	slices.SortFunc(hosts, func(a, b *Host) int { return strings.Compare(a.Address, b.Address) })
	c.hosts, c.byAddr, c.allPicker = hosts, seen, nil
	c.rebuildLocked()
}

// rebuildLocked recomputes the picker from the hosts and their ejections.
func (c *Cluster) rebuildLocked() {
	cfg := c.cfg.Load()
	if cfg.Type == OriginalDst {
		c.lb.Store(&lbState{picker: c.origDst})
		return
	}
	all := c.hosts
	if len(all) == 0 {
		c.lb.Store(&lbState{hosts: all})
		return
	}
	healthy := all
	for i, h := range all {
		if h.health.ejected.Load() {
			healthy = make([]*Host, 0, len(all))
			healthy = append(healthy, all[:i]...)
			for _, h := range all[i+1:] {
				if !h.health.ejected.Load() {
					healthy = append(healthy, h)
				}
			}
			break
		}
	}
	st := &lbState{hosts: all, healthy: len(healthy)}
	switch {
	case len(healthy) == len(all):
		st.picker = c.allPickerLocked(cfg)
	case 100*float64(len(healthy))/float64(len(all)) < cfg.HealthyPanicThreshold:
		// Too few healthy hosts: Envoy's panic mode balances over all.
		st.picker, st.panic = c.allPickerLocked(cfg), true
	case len(healthy) > 0:
		st.picker = builders[cfg.Policy](healthy, c.lbOptions(cfg))
	}
	c.lb.Store(st)
}

func (c *Cluster) allPickerLocked(cfg *Config) Picker {
	if c.allPicker == nil {
		c.allPicker = builders[cfg.Policy](c.hosts, c.lbOptions(cfg))
	}
	return c.allPicker
}

func (c *Cluster) lbOptions(cfg *Config) *LBOptions {
	return &LBOptions{LB: cfg.LB, Cursor: &c.cursor}
}

func isPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	for d := uint64(2); d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}
