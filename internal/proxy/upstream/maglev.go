package upstream

import (
	"math/rand/v2"
)

func init() { register(Maglev, newMaglev) }

// DefaultMaglevTableSize is Envoy's maglev_lb_config.table_size default (a
// prime).
const DefaultMaglevTableSize = 65537

// maglev is Envoy's MAGLEV: a lookup table of a prime size M filled by the
// hosts' permutations (offset + n·skip mod M, both from the address), each
// host taking turns in proportion to its weight. A pick is one table read;
// removing a host moves little more than its own share of keys.
type maglev[T uint16 | uint32] struct {
	table []T
	hosts []*Host
}

func newMaglev(hosts []*Host, o *LBOptions) Picker {
	size := uint64(DefaultMaglevTableSize)
	if o != nil && o.LB.MaglevTableSize > 0 {
		size = o.LB.MaglevTableSize
	}
	if len(hosts) <= 1<<16-1 {
		return &maglev[uint16]{table: maglevTable[uint16](hosts, size), hosts: hosts}
	}
	return &maglev[uint32]{table: maglevTable[uint32](hosts, size), hosts: hosts}
}

func maglevTable[T uint16 | uint32](hosts []*Host, size uint64) []T {
	type entry struct {
		offset, skip, next uint64
		weight, credit     float64
	}
	entries := make([]entry, len(hosts))
	var maxW float64
	for _, h := range hosts {
		maxW = max(maxW, float64(max(h.Weight, 1)))
	}
	for i, h := range hosts {
		entries[i] = entry{
			offset: hashSeeded(h.Address, 0) % size,
			skip:   hashSeeded(h.Address, 1)%(size-1) + 1,
			weight: float64(max(h.Weight, 1)) / maxW,
		}
	}
	const empty = ^uint64(0)
	slots := make([]uint64, size)
	for i := range slots {
		slots[i] = empty
	}
	for filled := uint64(0); filled < size; {
		for i := range entries {
			e := &entries[i]
			// Each round a host earns its relative weight; it places one
			// entry per whole unit earned. The heaviest host places one
			// every round.
			e.credit += e.weight
			if e.credit < 1 {
				continue
			}
			e.credit--
			c := (e.offset + e.skip*e.next) % size
			for slots[c] != empty {
				e.next++
				c = (e.offset + e.skip*e.next) % size
			}
			slots[c] = uint64(i)
			e.next++
			if filled++; filled == size {
				break
			}
		}
	}
	table := make([]T, size)
	for i, s := range slots {
		table[i] = T(s)
	}
	return table
}

func (p *maglev[T]) Pick(req *PickRequest) *Host {
	h, ok := req.hash()
	if !ok {
		h = rand.Uint64() // no hash: a random entry, as Envoy
	}
	size := uint64(len(p.table))
	i := h % size
	host := p.hosts[p.table[i]]
	if !req.avoid(host) {
		return host
	}
	// The table's neighbours are other hosts in a key-specific order.
	first, tried := host, 0
	for j := uint64(1); j < size && tried < maxAvoidAttempts; j++ {
		next := p.hosts[p.table[(i+j)%size]]
		if next == host {
			continue
		}
		if !req.avoid(next) {
			return next
		}
		host = next
		tried++
	}
	return first
}
