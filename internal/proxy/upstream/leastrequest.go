package upstream

import (
	"math/rand/v2"
)

func init() { register(LeastRequest, newLeastRequest) }

// leastRequest is Envoy's default LEAST_REQUEST: the power of two choices
// over Host.Active.
type leastRequest struct{ hosts []*Host }

func newLeastRequest(hosts []*Host) Picker { return &leastRequest{hosts: hosts} }

func (p *leastRequest) Pick(*PickRequest) *Host {
	n := len(p.hosts)
	if n == 1 {
		return p.hosts[0]
	}
	a, b := p.hosts[rand.IntN(n)], p.hosts[rand.IntN(n)]
	if b.Active.Load() < a.Active.Load() {
		return b
	}
	return a
}
