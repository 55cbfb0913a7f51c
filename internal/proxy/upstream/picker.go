package upstream

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
)

// Picker chooses an endpoint for a request. A Picker is built for one
// immutable endpoint set (never empty) and must be safe for concurrent use.
type Picker interface {
	Pick(req *PickRequest) *Host
}

// PickRequest is what a load balancer may look at for one pick. A nil
// *PickRequest is valid and means "no hash, avoid nothing".
type PickRequest struct {
	HTTP *http.Request
	// Hash is the result of the route's hash_policy, when HasHash.
	Hash    uint64
	HasHash bool
	// Avoid, when set, rejects hosts a retry should not reuse (Envoy's
	// previous_hosts retry predicate); a picker tries other hosts first.
	Avoid func(*Host) bool
	// OriginalDst is the destination (host:port) an ORIGINAL_DST cluster
	// connects to. When empty, the HTTP request's Host (port 80 if it has
	// none) is used, which in explicit-proxy mode is where the application
	// sent the request.
	OriginalDst string
}

func (r *PickRequest) hash() (uint64, bool) {
	if r == nil || !r.HasHash {
		return 0, false
	}
	return mix64(r.Hash), true
}

func (r *PickRequest) avoid(h *Host) bool {
	return r != nil && r.Avoid != nil && r.Avoid(h)
}

// LBOptions is what a PickerBuilder gets besides the hosts.
type LBOptions struct {
	LB LBConfig
	// Cursor is the cluster's round-robin position. It outlives pickers so
	// that a rebuilt picker continues where the old one was.
	Cursor *atomic.Uint64
}

// PickerBuilder builds the Picker of a load balancing policy for a
// non-empty host set.
type PickerBuilder func(hosts []*Host, o *LBOptions) Picker

// Policy is a cluster's load balancing policy.
type Policy uint8

// Load balancing policies, as in envoy.config.cluster.v3.Cluster.LbPolicy.
const (
	RoundRobin Policy = iota
	LeastRequest
	Random
	RingHash
	Maglev
)

func (p Policy) String() string {
	switch p {
	case RoundRobin:
		return "ROUND_ROBIN"
	case LeastRequest:
		return "LEAST_REQUEST"
	case Random:
		return "RANDOM"
	case RingHash:
		return "RING_HASH"
	case Maglev:
		return "MAGLEV"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// builders maps a policy to its PickerBuilder. Each policy registers itself
// from its own file's init; the map is read-only afterwards.
var builders = map[Policy]PickerBuilder{}

func register(p Policy, b PickerBuilder) { builders[p] = b }

// maxAvoidAttempts bounds how many other hosts a picker tries when the
// request's Avoid rejects its choice (Istio's
// host_selection_retry_max_attempts is 5).
const maxAvoidAttempts = 5

// repick calls pick up to maxAvoidAttempts more times while Avoid rejects
// the host, for pickers whose successive picks differ anyway; the last
// choice stands when every attempt is rejected.
func repick(req *PickRequest, h *Host, pick func() *Host) *Host {
	for i := 0; i < maxAvoidAttempts && req.avoid(h); i++ {
		h = pick()
	}
	return h
}

// weightedIndex draws an index from cumulative weights (cum[i] is the sum
// of the weights of hosts 0..i).
func weightedIndex(cum []uint64) int {
	r := rand.Uint64N(cum[len(cum)-1])
	lo, hi := 0, len(cum)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if cum[mid] > r {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// cumulativeWeights returns the running sums of the hosts' weights, or nil
// when all weights are equal (then a uniform draw is enough).
func cumulativeWeights(hosts []*Host) []uint64 {
	equal := true
	for _, h := range hosts {
		if max(h.Weight, 1) != max(hosts[0].Weight, 1) {
			equal = false
			break
		}
	}
	if equal {
		return nil
	}
	cum := make([]uint64, len(hosts))
	var sum uint64
	for i, h := range hosts {
		sum += uint64(max(h.Weight, 1))
		cum[i] = sum
	}
	return cum
}
