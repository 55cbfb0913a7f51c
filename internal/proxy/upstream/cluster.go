// Package upstream holds the proxy's clusters: their endpoints, load
// balancers and HTTP connection pools.
//
// Cluster objects are keyed by name and survive configuration updates, so
// their connection pools (one http.Transport per cluster) and per-host state
// are reused across CDS/EDS pushes. Readers get the current cluster map and
// endpoint sets through atomic pointers; only updates take a lock.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
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

// Config is the compiled form of an Envoy Cluster.
type Config struct {
	Name           string
	Type           Type
	EDSServiceName string // the ClusterLoadAssignment name for EDS clusters
	ConnectTimeout time.Duration
	Policy         Policy
	Protocol       Protocol
	// Endpoints are the load_assignment endpoints of non-EDS clusters.
	Endpoints []EndpointConfig
}

// EndpointConfig is one endpoint of a cluster.
type EndpointConfig struct {
	Address string // host:port
	Weight  uint32
}

// Host is one upstream endpoint. Host objects are reused across endpoint
// updates (keyed by address) so that per-host state survives them.
type Host struct {
	Address string
	Weight  uint32
	// Active counts requests in flight to the host.
	Active atomic.Int64
}

// Cluster is a named upstream cluster. It is safe for concurrent use.
type Cluster struct {
	name      string
	cfg       atomic.Pointer[Config]
	transport atomic.Pointer[http.Transport]
	picker    atomic.Pointer[pickerBox]
	hosts     map[string]*Host // by address; guarded by Manager.mu
}

type pickerBox struct {
	p     Picker
	hosts []*Host
}

// Name returns the cluster name.
func (c *Cluster) Name() string { return c.name }

// Config returns the cluster's current configuration.
func (c *Cluster) Config() *Config { return c.cfg.Load() }

// Transport returns the cluster's connection pool.
func (c *Cluster) Transport() *http.Transport { return c.transport.Load() }

// Pick chooses an endpoint for the request, or returns nil when the cluster
// has no endpoints.
func (c *Cluster) Pick(req *PickRequest) *Host {
	b := c.picker.Load()
	if b == nil || len(b.hosts) == 0 {
		return nil
	}
	return b.p.Pick(req)
}

// Hosts returns the cluster's current endpoints.
func (c *Cluster) Hosts() []*Host {
	if b := c.picker.Load(); b != nil {
		return b.hosts
	}
	return nil
}

// DialError marks a failure to connect to an upstream host.
type DialError struct {
	Addr string
	Err  error
}

func (e *DialError) Error() string { return fmt.Sprintf("upstream: connect to %s: %v", e.Addr, e.Err) }
func (e *DialError) Unwrap() error { return e.Err }

func newTransport(cfg *Config) *http.Transport {
	d := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &DialError{Addr: addr, Err: err}
			}
			return c, nil
		},
		Proxy:                  nil, // never use the environment's proxy
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        5 * time.Minute,
		DisableCompression:     true, // a proxy passes bodies through
		MaxResponseHeaderBytes: 1 << 20,
	}
	var p http.Protocols
	if cfg.Protocol == H2C {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	t.Protocols = &p
	return t
}

// Manager owns every cluster. Get is lock-free; updates are serialised.
type Manager struct {
	log      *slog.Logger
	mu       sync.Mutex
	clusters atomic.Pointer[map[string]*Cluster]
	// assignments is the last EDS state by service name; it is kept for
	// names whose cluster is not (yet) known.
	assignments map[string][]EndpointConfig
}

// NewManager returns an empty cluster manager.
func NewManager(log *slog.Logger) *Manager {
	m := &Manager{log: log, assignments: make(map[string][]EndpointConfig)}
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

// UpdateClusters makes cfgs the complete set of clusters. Clusters that
// keep their name keep their connection pool (unless the protocol or the
// connect timeout changed) and their hosts; removed clusters close their
// idle connections.
func (m *Manager) UpdateClusters(cfgs []Config) error {
	for _, c := range cfgs {
		if _, ok := builders[c.Policy]; !ok {
			return fmt.Errorf("upstream: cluster %q: load balancing policy %v is not supported", c.Name, c.Policy)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.clusters.Load()
	next := make(map[string]*Cluster, len(cfgs))
	for i := range cfgs {
		cfg := &cfgs[i]
		c, ok := old[cfg.Name]
		if !ok {
			c = &Cluster{name: cfg.Name, hosts: make(map[string]*Host)}
		}
		prev := c.cfg.Load()
		c.cfg.Store(cfg)
		if prev == nil || prev.Protocol != cfg.Protocol || prev.ConnectTimeout != cfg.ConnectTimeout {
			if t := c.transport.Swap(newTransport(cfg)); t != nil {
				t.CloseIdleConnections()
			}
		}
		m.setHosts(c, m.endpointsFor(cfg), prev == nil || prev.Policy != cfg.Policy)
		next[cfg.Name] = c
	}
	m.clusters.Store(&next)
	for name, c := range old {
		if _, ok := next[name]; !ok {
			if t := c.transport.Load(); t != nil {
				t.CloseIdleConnections()
			}
		}
	}
	return nil
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
			m.setHosts(c, m.endpointsFor(cfg), false)
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
	if cfg.Type == EDS {
		return m.assignments[cfg.EDSServiceName]
	}
	return cfg.Endpoints
}

// setHosts installs a new endpoint set, reusing Host objects by address.
// Callers hold m.mu.
func (m *Manager) setHosts(c *Cluster, eps []EndpointConfig, force bool) {
	hosts := make([]*Host, 0, len(eps))
	seen := make(map[string]*Host, len(eps))
	changed := force || c.picker.Load() == nil
	for _, ep := range eps {
		if _, dup := seen[ep.Address]; dup {
			continue
		}
		h, ok := c.hosts[ep.Address]
		if !ok || h.Weight != ep.Weight {
			h = &Host{Address: ep.Address, Weight: ep.Weight}
			changed = true
		}
		seen[ep.Address] = h
		hosts = append(hosts, h)
	}
	if len(seen) != len(c.hosts) {
		changed = true
	}
	if !changed {
		return
	}
	c.hosts = seen
	cfg := c.cfg.Load()
	c.picker.Store(&pickerBox{p: builders[cfg.Policy](hosts), hosts: hosts})
}

// Close closes every cluster's idle connections.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range *m.clusters.Load() {
		if t := c.transport.Load(); t != nil {
			t.CloseIdleConnections()
		}
	}
}

// IsDialError reports whether err is a failure to connect upstream.
func IsDialError(err error) bool {
	var de *DialError
	return errors.As(err, &de)
}
