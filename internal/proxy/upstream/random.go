package upstream

import (
	"math/rand/v2"
)

func init() { register(Random, newRandom) }

type random struct{ hosts []*Host }

func newRandom(hosts []*Host) Picker { return &random{hosts: hosts} }

func (p *random) Pick(*PickRequest) *Host { return p.hosts[rand.IntN(len(p.hosts))] }
