package meshmetrics

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Store turns successive scrapes of every sidecar into mesh-wide monotonic
// totals per edge (so a restarted sidecar's counters do not go backwards)
// and keeps them in a ring covering Keep.
type Store struct {
	keep time.Duration

	mu     sync.Mutex
	totals map[EdgeKey]*counters
	prev   map[string]map[string]float64 // target -> series ID -> last value
	ring   []point                       // oldest first
}

type point struct {
	at     time.Time
	totals map[EdgeKey]counters
}

// NewStore returns a store that remembers keep worth of points.
func NewStore(keep time.Duration) *Store {
	return &Store{keep: keep, totals: map[EdgeKey]*counters{}, prev: map[string]map[string]float64{}}
}

// Add folds one sidecar's samples into the totals. The first scrape of a
// target is its baseline: only increases after it count. A counter lower
// than before means the sidecar restarted; its whole value is the increase.
func (s *Store) Add(target string, samples []Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, known := s.prev[target]
	cur := make(map[string]float64, len(samples))
	for i := range samples {
		smp := &samples[i]
		edge, f, ok := classify(smp)
		if !ok {
			continue
		}
		id := seriesID(smp)
		cur[id] = smp.Value
		if !known {
			continue
		}
		inc := smp.Value
		if p, ok := prev[id]; ok && p <= smp.Value {
			inc = smp.Value - p
		}
		if inc == 0 {
			continue
		}
		c := s.totals[edge]
		if c == nil {
			c = &counters{}
			s.totals[edge] = c
		}
		c.add(f, inc)
	}
	s.prev[target] = cur
}

// Retain forgets the baselines of targets no longer scraped.
func (s *Store) Retain(targets []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.prev {
		if !slices.Contains(targets, t) {
			delete(s.prev, t)
		}
	}
}

// Commit records the totals as of at (call after every scrape round).
func (s *Store) Commit(at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := make(map[EdgeKey]counters, len(s.totals))
	for k, c := range s.totals {
		snap[k] = *c
	}
	s.ring = append(s.ring, point{at: at, totals: snap})
	cut := 0
	for cut < len(s.ring)-1 && at.Sub(s.ring[cut].at) > s.keep {
		cut++
	}
	s.ring = slices.Delete(s.ring, 0, cut)
}

// Stats are request, error and latency figures over a window.
type Stats struct {
	RPS       float64 `json:"rps"`
	ErrorRate float64 `json:"errorRate"` // 0..1
	P99Ms     float64 `json:"p99Ms"`     // 0 when there were no requests
	MTLS      float64 `json:"mtls"`      // share of requests over mutual TLS, 0..1
	Requests  float64 `json:"requests"`
}

func statsOf(d counters, seconds float64) Stats {
	if seconds <= 0 || d.requests <= 0 {
		return Stats{}
	}
	return Stats{
		RPS: d.requests / seconds, ErrorRate: d.errors / d.requests, MTLS: d.mtls / d.requests,
		P99Ms: Quantile(0.99, d.buckets[:], d.requests), Requests: d.requests,
	}
}

// window returns the index of the newest point at least w older than the
// point at end (or the oldest one), or ok=false when end has no point
// before it.
func (s *Store) window(end int, w time.Duration) (from int, ok bool) {
	if end < 1 {
		return 0, false
	}
	from = end - 1
	for from > 0 && s.ring[end].at.Sub(s.ring[from].at) < w {
		from--
	}
	return from, true
}

// Quantile estimates the q-quantile from cumulative bucket counts (upper
// bounds Buckets) and the total count, interpolating linearly inside the
// bucket as Prometheus' histogram_quantile does. Past the last finite
// bucket it returns that bucket's bound.
func Quantile(q float64, cumulative []float64, total float64) float64 {
	if total <= 0 || math.IsNaN(q) {
		return 0
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for i, c := range cumulative {
		if c >= rank {
			if c == below {
				return Buckets[i]
			}
			return lower + (Buckets[i]-lower)*(rank-below)/(c-below)
		}
		lower, below = Buckets[i], c
	}
	return Buckets[len(Buckets)-1]
}
