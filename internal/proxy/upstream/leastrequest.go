package upstream

import (
	"math/rand/v2"
)

func init() { register(LeastRequest, newLeastRequest) }

// leastRequest is Envoy's LEAST_REQUEST with its default choice_count of 2:
// the power of two choices over Host.Active. Two hosts are drawn (by weight
// when weights differ) and the one with fewer active requests (per unit of
// weight) wins.
type leastRequest struct {
	hosts []*Host
	cum   []uint64 // nil with equal weights
}

func newLeastRequest(hosts []*Host, _ *LBOptions) Picker {
	return &leastRequest{hosts: hosts, cum: cumulativeWeights(hosts)}
}

func (p *leastRequest) Pick(req *PickRequest) *Host {
	h := p.one()
	if req.avoid(h) {
		h = repick(req, h, p.one)
	}
	return h
}

func (p *leastRequest) one() *Host {
	n := len(p.hosts)
	if n == 1 {
		return p.hosts[0]
	}
	if p.cum == nil {
		a, b := p.hosts[rand.IntN(n)], p.hosts[rand.IntN(n)]
		if b.Active.Load() < a.Active.Load() {
			return b
		}
		return a
	}
	a, b := p.hosts[weightedIndex(p.cum)], p.hosts[weightedIndex(p.cum)]
	// active/weight compared without division; idle hosts tie, so an idle
	// cluster is balanced by the weighted draw alone.
	if b.Active.Load()*int64(max(a.Weight, 1)) < a.Active.Load()*int64(max(b.Weight, 1)) {
		return b
	}
	return a
}
