package upstream

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
)

func init() { register(RingHash, newRingHash) }

// Envoy's ring_hash_lb_config defaults.
const (
	DefaultMinRingSize = 1024
	DefaultMaxRingSize = 8 * 1024 * 1024
)

// ringHash is Envoy's RING_HASH (Ketama-style consistent hashing): every
// host owns points on a 64-bit ring, in proportion to its weight, at the
// hashes of "<address>_<n>"; a request goes to the owner of the first point
// at or after its hash. Removing one of N hosts moves only the keys that
// host owned (about 1/N).
type ringHash struct {
	points []uint64 // sorted
	owners []*Host  // owners[i] owns points[i]
}

func newRingHash(hosts []*Host, o *LBOptions) Picker {
	minSize, maxSize := uint64(DefaultMinRingSize), uint64(DefaultMaxRingSize)
	if o != nil {
		if o.LB.MinRingSize > 0 {
			minSize = o.LB.MinRingSize
		}
		if o.LB.MaxRingSize > 0 {
			maxSize = o.LB.MaxRingSize
		}
	}
	// Every host gets a fixed number of points per unit of (the lightest)
	// weight: min_ring_size/4, so four equal hosts make a ring of exactly
	// min_ring_size. Envoy divides min_ring_size among the hosts instead,
	// which gives the survivors new points when one host goes and moves
	// about a third of all keys when one of four hosts is removed; with a
	// fixed count only the removed host's keys move. Only when the ring
	// would exceed max_ring_size are the counts scaled down.
	minW := uint64(math.MaxUint32)
	for _, h := range hosts {
		minW = min(minW, uint64(max(h.Weight, 1)))
	}
	perUnit := float64(max(minSize/4, 1))
	var total float64
	for _, h := range hosts {
		total += perUnit * float64(max(h.Weight, 1)) / float64(minW)
	}
	if total > float64(maxSize) {
		perUnit *= float64(maxSize) / total
		total = float64(maxSize)
	}

	type point struct {
		hash uint64
		host *Host
	}
	ring := make([]point, 0, int(total)+len(hosts))
	buf := make([]byte, 0, 64)
	for _, h := range hosts {
		n := int(math.Ceil(perUnit * float64(max(h.Weight, 1)) / float64(minW)))
		for i := range max(n, 1) {
			buf = strconv.AppendInt(append(append(buf[:0], h.Address...), '_'), int64(i), 10)
			ring = append(ring, point{HashBytes(buf), h})
		}
	}
	slices.SortFunc(ring, func(a, b point) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	p := &ringHash{points: make([]uint64, len(ring)), owners: make([]*Host, len(ring))}
	for i, pt := range ring {
		p.points[i], p.owners[i] = pt.hash, pt.host
	}
	return p
}

func (p *ringHash) Pick(req *PickRequest) *Host {
	h, ok := req.hash()
	if !ok {
		h = rand.Uint64() // no hash: a random point, as Envoy
	}
	i := p.search(h)
	host := p.owners[i]
	if !req.avoid(host) {
		return host
	}
	// Walk on along the ring to the next hosts, as a retry does.
	tried := 0
	for j := 1; j < len(p.owners) && tried < maxAvoidAttempts; j++ {
		next := p.owners[(i+j)%len(p.owners)]
		if next == host {
			continue
		}
		if !req.avoid(next) {
			return next
		}
		host = next
		tried++
	}
	return p.owners[i]
}

// search returns the index of the first point >= h, wrapping to 0.
func (p *ringHash) search(h uint64) int {
	lo, hi := 0, len(p.points)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if p.points[mid] < h {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(p.points) {
		return 0
	}
	return lo
}
