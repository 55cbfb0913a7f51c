package upstream

import (
	"errors"
	"math"
	"sync/atomic"
)

// Thresholds are a cluster's circuit breakers (circuit_breakers.thresholds
// with priority DEFAULT).
type Thresholds struct {
	MaxConnections     uint32
	MaxPendingRequests uint32
	MaxRequests        uint32
	MaxRetries         uint32
}

// DefaultThresholds are Envoy's circuit breakers for a cluster that sets
// none. (Istio sets 4294967295 everywhere it does not configure a limit.)
var DefaultThresholds = Thresholds{MaxConnections: 1024, MaxPendingRequests: 1024, MaxRequests: 1024, MaxRetries: 3}

// ErrOverflow is returned when a circuit breaker refuses a request or a
// connection: Envoy's UO.
var ErrOverflow = errors.New("upstream: circuit breaker overflow")

// admission is a cluster's circuit-breaker state. The counters are shared
// by every request of the cluster and survive configuration updates.
type admission struct {
	limits   atomic.Pointer[limits]
	requests atomic.Int64 // admitted requests not yet released: active + pending
	retries  atomic.Int64 // retries in flight
	conns    atomic.Int64 // open upstream connections (HTTP pool and TCP proxy)

	overflows      atomic.Uint64 // requests and connections refused (UO)
	retryOverflows atomic.Uint64
	ejections      atomic.Uint64

	releaseRequest, releaseRetry func()
}

// limits are the thresholds as the admission checks use them.
type limits struct {
	requests int64 // admitted requests (active + pending)
	retries  int64
	conns    int64
	http1    bool // every active request holds a connection
	// maxPending is max_pending_requests when the pending check applies
	// (HTTP/1.1 with a real limit), else -1.
	maxPending int64
}

func (a *admission) init() {
	a.releaseRequest = func() { a.requests.Add(-1) }
	a.releaseRetry = func() { a.retries.Add(-1) }
	a.configure(&Config{})
}

// configure derives the admission limits. With HTTP/1.1 every active
// request holds a connection, so once max_connections requests are active
// the next ones wait for a connection as pending requests, up to
// max_pending_requests; max_requests bounds the active ones. HTTP/2
// multiplexes, so only max_requests applies.
func (a *admission) configure(cfg *Config) {
	t := DefaultThresholds
	if cfg.Limits != nil {
		t = *cfg.Limits
	}
	l := &limits{retries: int64(t.MaxRetries), conns: int64(t.MaxConnections), http1: cfg.Protocol == HTTP1, maxPending: -1}
	if l.http1 {
		if t.MaxPendingRequests < math.MaxInt32 {
			l.maxPending = int64(t.MaxPendingRequests)
		}
		if t.MaxRequests <= t.MaxConnections {
			l.requests = int64(t.MaxRequests)
		} else {
			l.requests = int64(t.MaxConnections) + int64(t.MaxPendingRequests)
		}
	} else {
		l.requests = int64(t.MaxRequests)
	}
	a.limits.Store(l)
}

// Admit asks the cluster's circuit breakers (max_connections,
// max_pending_requests, max_requests) for a slot for one request. When ok is
// false the request overflows and is answered 503 with flag UO at once;
// otherwise release must be called once when the request ends. Admit never
// blocks or allocates; a pending request waits for a connection in the
// cluster's transport (MaxConnsPerHost).
//
// As in Envoy, an HTTP/1.1 request is pending while no established
// connection is there for it: when max_connections are busy, and also
// while the connection it needs is being made. So with
// max_requests_per_connection 1 (a new connection for every request) even
// two concurrent clients overflow max_pending_requests 1 now and then, as
// in Istio's circuit-breaking task.
func (c *Cluster) Admit() (release func(), ok bool) {
	l := c.limits.Load()
	n := c.requests.Add(1)
	if n > l.requests || l.maxPending >= 0 && c.pendingBefore(n) >= l.maxPending {
		c.requests.Add(-1)
		c.overflows.Add(1)
		return noRelease, false
	}
	return c.releaseRequest, true
}

// pendingBefore is how many of the other n-1 admitted requests have no
// established connection.
func (c *Cluster) pendingBefore(n int64) int64 {
	before := n - 1
	return before - min(before, c.conns.Load())
}

// AdmitRetry asks the max_retries circuit breaker for one retry; when ok is
// false the retry is not attempted (flag URX on the final response).
// Otherwise release must be called once when the retry attempt ends.
func (c *Cluster) AdmitRetry() (release func(), ok bool) {
	l := c.limits.Load()
	if c.retries.Add(1) > l.retries {
		c.retries.Add(-1)
		c.retryOverflows.Add(1)
		return noRelease, false
	}
	return c.releaseRetry, true
}

// admitConnection takes one of max_connections for a TCP proxy connection.
func (c *Cluster) admitConnection() bool {
	if c.conns.Add(1) > c.limits.Load().conns {
		c.conns.Add(-1)
		c.overflows.Add(1)
		return false
	}
	return true
}

func noRelease() {}

// Stats is a snapshot of a cluster's runtime state.
type Stats struct {
	Requests       int64 // admitted and not finished (active + pending)
	Pending        int64 // of those, waiting for a connection (HTTP/1.1)
	Retries        int64 // retries in flight
	Connections    int64 // open upstream connections
	Overflows      uint64
	RetryOverflows uint64
	Ejections      uint64 // outlier ejections so far
	Hosts          int
	Healthy        int  // hosts not ejected
	Panic          bool // balancing over all hosts (healthy_panic_threshold)
}

// Stats returns the cluster's counters.
func (c *Cluster) Stats() Stats {
	s := Stats{
		Requests: c.requests.Load(), Retries: c.retries.Load(), Connections: c.conns.Load(),
		Overflows: c.overflows.Load(), RetryOverflows: c.retryOverflows.Load(), Ejections: c.ejections.Load(),
	}
	if c.limits.Load().http1 {
		s.Pending = s.Requests - min(s.Requests, s.Connections)
	}
	if st := c.lb.Load(); st != nil {
		s.Hosts, s.Healthy, s.Panic = len(st.hosts), st.healthy, st.panic
	}
	return s
}
