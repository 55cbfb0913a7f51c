package upstream

import (
	"fmt"
	"net/http"
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
}

// PickerBuilder builds the Picker of a load balancing policy.
type PickerBuilder func(hosts []*Host) Picker

// Policy is a cluster's load balancing policy.
type Policy uint8

// Load balancing policies, as in envoy.config.cluster.v3.Cluster.LbPolicy.
const (
	RoundRobin Policy = iota
	LeastRequest
	Random
)

func (p Policy) String() string {
	switch p {
	case RoundRobin:
		return "ROUND_ROBIN"
	case LeastRequest:
		return "LEAST_REQUEST"
	case Random:
		return "RANDOM"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// builders maps a policy to its PickerBuilder. Each policy registers itself
// from its own file's init; the map is read-only afterwards.
var builders = map[Policy]PickerBuilder{}

func register(p Policy, b PickerBuilder) { builders[p] = b }
