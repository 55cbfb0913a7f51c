package upstream

import (
	"sync/atomic"
)

func init() { register(RoundRobin, newRoundRobin) }

// roundRobin cycles through the hosts with one atomic counter, the
// cluster's cursor, which survives rebuilds of the picker. Unequal weights
// are honoured by repeating hosts in a precomputed schedule.
type roundRobin struct {
	schedule []*Host
	next     *atomic.Uint64
}

// maxSchedule bounds the weighted schedule; beyond it weights are ignored.
const maxSchedule = 4096

func newRoundRobin(hosts []*Host, o *LBOptions) Picker {
	p := &roundRobin{schedule: weightedSchedule(hosts)}
	if o != nil && o.Cursor != nil {
		p.next = o.Cursor
	} else {
		p.next = new(atomic.Uint64)
	}
	return p
}

func (p *roundRobin) Pick(req *PickRequest) *Host {
	n := uint64(len(p.schedule))
	h := p.schedule[(p.next.Add(1)-1)%n]
	for i := 0; i < maxAvoidAttempts && req.avoid(h); i++ {
		h = p.schedule[(p.next.Add(1)-1)%n]
	}
	return h
}

// weightedSchedule interleaves hosts in proportion to their weights
// (reduced by their gcd); with equal weights it is the host list itself.
func weightedSchedule(hosts []*Host) []*Host {
	g, total := uint32(0), uint64(0)
	for _, h := range hosts {
		g = gcd(g, max(h.Weight, 1))
	}
	for _, h := range hosts {
		total += uint64(max(h.Weight, 1) / g)
	}
	if total == uint64(len(hosts)) || total > maxSchedule {
		return hosts
	}
	// Smooth weighted round robin, computed once.
	sched := make([]*Host, 0, total)
	cur := make([]int64, len(hosts))
	for range total {
		best := 0
		for i, h := range hosts {
			cur[i] += int64(max(h.Weight, 1) / g)
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= int64(total)
		sched = append(sched, hosts[best])
	}
	return sched
}

func gcd(a, b uint32) uint32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
