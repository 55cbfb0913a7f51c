package bench

import (
	"math"
	"testing"
)

// Added latency is the median over rounds of each round's difference to
// the direct path of the same round, so one disturbed round neither
// inflates nor hides what a proxy adds.
func TestAddedOverDirectRounds(t *testing.T) {
	r := func(p50, p90, p99 float64) LatencyRound { return LatencyRound{P50: p50, P90: p90, P99: p99} }
	direct := PathLatency{Path: PathDirect, Rounds: []LatencyRound{r(0.30, 0.50, 1.0), r(0.90, 3.00, 9.0), r(0.32, 0.52, 1.2)}}
	proxy := PathLatency{Path: PathHAProxy, Rounds: []LatencyRound{r(0.50, 0.80, 1.5), r(1.00, 2.00, 8.0), r(0.54, 0.84, 1.9)}}
	direct.P50, direct.P90, direct.P99 = 0.32, 0.52, 1.2 // medians
	proxy.P50, proxy.P90, proxy.P99 = 0.54, 0.84, 1.9
	pt := LatencyPoint{Paths: []PathLatency{direct, proxy}}
	addedOverDirect(&pt)
	got := pt.Paths[1]
	// Per round: (0.20, 0.30, 0.5), (0.10, -1.00, -1.0), (0.22, 0.32, 0.7).
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"P50", got.AddedP50, 0.20}, {"P90", got.AddedP90, 0.30}, {"P99", got.AddedP99, 0.5}} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("added %s %.3f, want %.3f", c.name, c.got, c.want)
		}
	}
	if pt.Paths[0].AddedP50 != 0 {
		t.Errorf("the direct path added %.3f over itself", pt.Paths[0].AddedP50)
	}

	// Without rounds (one run), the plain difference.
	pt = LatencyPoint{Paths: []PathLatency{{Path: PathDirect, P50: 0.3, P90: 0.5, P99: 1}, {Path: PathHalyard, P50: 0.5, P90: 0.9, P99: 2}}}
	addedOverDirect(&pt)
	if p := pt.Paths[1]; math.Abs(p.AddedP50-0.2) > 1e-9 || math.Abs(p.AddedP90-0.4) > 1e-9 || math.Abs(p.AddedP99-1) > 1e-9 {
		t.Errorf("added %.3f / %.3f / %.3f", p.AddedP50, p.AddedP90, p.AddedP99)
	}
}

func TestMedian(t *testing.T) {
	p50 := func(r LatencyRound) float64 { return r.P50 }
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		rounds := make([]LatencyRound, len(c.in))
		for i, v := range c.in {
			rounds[i].P50 = v
		}
		if got := median(rounds, p50); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
