package upstream

import (
	"math/rand/v2"
)

func init() { register(Random, newRandom) }

// random draws a host uniformly, or in proportion to the hosts' weights.
type random struct {
	hosts []*Host
	cum   []uint64 // nil with equal weights
}

func newRandom(hosts []*Host, _ *LBOptions) Picker {
	return &random{hosts: hosts, cum: cumulativeWeights(hosts)}
}

func (p *random) Pick(req *PickRequest) *Host {
	h := p.one()
	if req.avoid(h) {
		h = repick(req, h, p.one)
	}
	return h
}

func (p *random) one() *Host {
	if p.cum == nil {
		return p.hosts[rand.IntN(len(p.hosts))]
	}
	return p.hosts[weightedIndex(p.cum)]
}
