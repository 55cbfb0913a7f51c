package upstream

import (
	"fmt"
	"math"
	"testing"
)

func hostsN(n int) []*Host {
	hs := make([]*Host, n)
	for i := range hs {
		hs[i] = &Host{Address: fmt.Sprintf("10.0.%d.%d:8080", i/256, i%256), Weight: 1}
	}
	return hs
}

func keyHash(i int) *PickRequest {
	return &PickRequest{Hash: HashString(fmt.Sprint("user-", i)), HasHash: true}
}

// TestConsistentHashing checks the acceptance numbers of RING_HASH and
// MAGLEV with 10k keys: a key always reaches the same host, hosts get
// similar shares, and removing one of N hosts moves about 1/N of the keys.
func TestConsistentHashing(t *testing.T) {
	const keys = 10000
	for _, tc := range []struct {
		policy Policy
		n      int
		// slack is the movement allowed beyond the ideal 1/N, in points of
		// percent of all keys.
		slack float64
	}{
		{RingHash, 4, 1}, {RingHash, 10, 1}, {RingHash, 50, 1},
		{Maglev, 4, 1.5}, {Maglev, 10, 1.5}, {Maglev, 50, 1.5},
	} {
		t.Run(fmt.Sprintf("%v/%d", tc.policy, tc.n), func(t *testing.T) {
			hosts := hostsN(tc.n)
			p := builders[tc.policy](hosts, nil)
			// A picker built again from the same hosts: another proxy, or
			// this one after a rebuild.
			again := builders[tc.policy](hosts, nil)
			before := make([]*Host, keys)
			share := map[*Host]int{}
			same := 0
			for i := range keys {
				req := keyHash(i)
				before[i] = p.Pick(req)
				share[before[i]]++
				if p.Pick(req) == before[i] && again.Pick(req) == before[i] {
					same++
				}
			}
			if same < keys*999/1000 {
				t.Errorf("same key, same host: %d of %d", same, keys)
			}
			lo, hi := math.MaxInt, 0
			for _, h := range hosts {
				lo, hi = min(lo, share[h]), max(hi, share[h])
			}
			ideal := float64(keys) / float64(tc.n)

			// Remove the host in the middle.
			gone := hosts[tc.n/2]
			rest := append(append([]*Host(nil), hosts[:tc.n/2]...), hosts[tc.n/2+1:]...)
			q := builders[tc.policy](rest, nil)
			moved, movedOthers := 0, 0
			for i := range keys {
				h := q.Pick(keyHash(i))
				if h == gone {
					t.Fatal("removed host picked")
				}
				if h != before[i] {
					moved++
					if before[i] != gone {
						movedOthers++
					}
				}
			}
			movedPct := 100 * float64(moved) / keys
			limit := 100/float64(tc.n) + tc.slack
			// A ring moves only the removed host's keys; Maglev's table
			// refill moves a few more.
			if tc.policy == RingHash && movedOthers > 0 || movedOthers > keys/100 {
				t.Errorf("%d keys of hosts that stayed moved", movedOthers)
			}
			t.Logf("%v with %d hosts: shares %d..%d (ideal %.0f); removing one moved %.2f%% of keys (ideal %.2f%%, limit %.2f%%), %d keys of other hosts",
				tc.policy, tc.n, lo, hi, ideal, movedPct, 100/float64(tc.n), limit, movedOthers)
			if movedPct > limit {
				t.Errorf("removing 1 of %d hosts moved %.2f%% of keys, want <= %.2f%%", tc.n, movedPct, limit)
			}
			if float64(lo) < ideal*0.6 || float64(hi) > ideal*1.4 {
				t.Errorf("unbalanced shares %d..%d for ideal %.0f", lo, hi, ideal)
			}
		})
	}
}

func TestHashWeights(t *testing.T) {
	hosts := []*Host{{Address: "a:1", Weight: 1}, {Address: "b:1", Weight: 3}}
	for _, policy := range []Policy{RingHash, Maglev, Random, LeastRequest} {
		p := builders[policy](hosts, nil)
		counts := map[string]int{}
		for i := range 20000 {
			req := keyHash(i)
			if policy == Random || policy == LeastRequest {
				req = nil
			}
			counts[p.Pick(req).Address]++
		}
		share := float64(counts["b:1"]) / 20000
		t.Logf("%v weights 1:3 -> b %.3f", policy, share)
		if share < 0.70 || share > 0.80 {
			t.Errorf("%v: weight 3 of 4 got %.3f", policy, share)
		}
	}
}

func TestRingSize(t *testing.T) {
	hosts := hostsN(4) // four equal hosts make a ring of min_ring_size
	for _, tc := range []struct {
		lb   LBConfig
		want int
	}{
		{LBConfig{}, 1024}, {LBConfig{MinRingSize: 2048}, 2048}, {LBConfig{MinRingSize: 4096, MaxRingSize: 100}, 100},
	} {
		p := newRingHash(hosts, &LBOptions{LB: tc.lb}).(*ringHash)
		if len(p.points) < tc.want || len(p.points) > tc.want+len(hosts) {
			t.Errorf("%+v: ring of %d, want about %d", tc.lb, len(p.points), tc.want)
		}
	}
	m := newMaglev(hosts, &LBOptions{LB: LBConfig{MaglevTableSize: 251}}).(*maglev[uint16])
	if len(m.table) != 251 {
		t.Errorf("maglev table %d", len(m.table))
	}
}

func TestNoHashIsRandom(t *testing.T) {
	hosts := hostsN(4)
	for _, policy := range []Policy{RingHash, Maglev} {
		p := builders[policy](hosts, nil)
		seen := map[*Host]bool{}
		for range 200 {
			seen[p.Pick(&PickRequest{})] = true
		}
		if len(seen) != 4 {
			t.Errorf("%v without a hash reached %d of 4 hosts", policy, len(seen))
		}
	}
}

func TestAvoid(t *testing.T) {
	hosts := hostsN(5)
	for _, policy := range []Policy{RoundRobin, LeastRequest, Random, RingHash, Maglev} {
		p := builders[policy](hosts, nil)
		for i := range 100 {
			first := p.Pick(keyHash(i))
			req := keyHash(i)
			req.Avoid = func(h *Host) bool { return h == first }
			if h := p.Pick(req); h == first && policy != Random && policy != LeastRequest {
				t.Fatalf("%v: avoided host picked again", policy)
			}
		}
		// Everything avoided: still a host.
		req := keyHash(1)
		req.Avoid = func(*Host) bool { return true }
		if p.Pick(req) == nil {
			t.Errorf("%v: nil when every host is avoided", policy)
		}
	}
	// Hashing pickers retry deterministically: the same key's second
	// choice is stable.
	p := builders[RingHash](hosts, nil)
	first := p.Pick(keyHash(7))
	req := keyHash(7)
	req.Avoid = func(h *Host) bool { return h == first }
	if a, b := p.Pick(req), p.Pick(req); a != b {
		t.Error("ring hash retry choice is not stable")
	}
}

func TestLeastRequestPrefersIdle(t *testing.T) {
	hosts := hostsN(2)
	hosts[0].Active.Store(10)
	p := newLeastRequest(hosts, nil)
	counts := map[*Host]int{}
	for range 1000 {
		counts[p.Pick(nil)]++
	}
	// Two draws land on the busy host only when both pick it: 1/4.
	if c := counts[hosts[0]]; c > 330 {
		t.Errorf("busy host picked %d of 1000", c)
	}
}

func TestRoundRobinCursorSurvivesRebuild(t *testing.T) {
	m := testManager()
	if err := m.UpdateClusters([]Config{{Name: "c", Type: Static, Endpoints: []EndpointConfig{{Address: "a:1", Weight: 1}, {Address: "b:1", Weight: 1}, {Address: "c:1", Weight: 1}}}}); err != nil {
		t.Fatal(err)
	}
	c := m.Get("c")
	if c.Pick(nil).Address != "a:1" {
		t.Fatal("first pick")
	}
	// A new endpoint list rebuilds the picker; the position is kept.
	if err := m.UpdateClusters([]Config{{Name: "c", Type: Static, Endpoints: []EndpointConfig{{Address: "a:1", Weight: 1}, {Address: "b:1", Weight: 1}, {Address: "c:1", Weight: 1}, {Address: "d:1", Weight: 1}}}}); err != nil {
		t.Fatal(err)
	}
	if got := c.Pick(nil).Address; got != "b:1" {
		t.Errorf("after rebuild: %s, want b:1", got)
	}
}

func TestHostOrderDoesNotMatter(t *testing.T) {
	m := testManager()
	eps := []EndpointConfig{{Address: "10.0.0.3:80", Weight: 1}, {Address: "10.0.0.1:80", Weight: 1}, {Address: "10.0.0.2:80", Weight: 1}}
	rev := []EndpointConfig{eps[2], eps[0], eps[1]}
	if err := m.UpdateClusters([]Config{
		{Name: "a", Type: Static, Policy: Maglev, Endpoints: eps},
		{Name: "b", Type: Static, Policy: Maglev, Endpoints: rev},
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if m.Get("a").Pick(keyHash(i)).Address != m.Get("b").Pick(keyHash(i)).Address {
			t.Fatal("endpoint order changed the Maglev table")
		}
	}
}

func TestOriginalDst(t *testing.T) {
	m := testManager()
	if err := m.UpdateClusters([]Config{{Name: "PassthroughCluster", Type: OriginalDst}}); err != nil {
		t.Fatal(err)
	}
	c := m.Get("PassthroughCluster")
	if c.Pick(nil) != nil {
		t.Error("no destination: want nil")
	}
	h := c.Pick(&PickRequest{OriginalDst: "10.1.2.3:5432"})
	if h == nil || h.Address != "10.1.2.3:5432" {
		t.Fatalf("original dst: %v", h)
	}
	if c.Pick(&PickRequest{OriginalDst: "10.1.2.3:5432"}) != h {
		t.Error("host not reused")
	}
	for _, tc := range []struct{ host, want string }{
		{"example.com:8080", "example.com:8080"}, {"example.com", "example.com:80"}, {"[::1]", "[::1]:80"},
	} {
		r := &PickRequest{HTTP: httpRequest(tc.host)}
		if h := c.Pick(r); h == nil || h.Address != tc.want {
			t.Errorf("Host %q: %v, want %s", tc.host, h, tc.want)
		}
	}
	// Endpoint updates never give an ORIGINAL_DST cluster hosts of its own.
	m.UpdateEndpoints(map[string][]EndpointConfig{"PassthroughCluster": {{Address: "x:1", Weight: 1}}})
	if h := c.Pick(&PickRequest{OriginalDst: "10.9.9.9:1"}); h == nil || h.Address != "10.9.9.9:1" {
		t.Errorf("after EDS: %v", h)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Policy: Maglev, LB: LBConfig{MaglevTableSize: 1000}}, "maglev table size 1000 is not a prime number"},
		{Config{Policy: RingHash, LB: LBConfig{MinRingSize: 10, MaxRingSize: 5}}, "ring hash minimum_ring_size 10 is larger than maximum_ring_size 5"},
		{Config{Policy: Policy(99)}, "load balancing policy Policy(99) is not supported"},
		{Config{Outlier: &OutlierConfig{}}, "outlier detection interval must be positive"},
	} {
		if err := Validate(&tc.cfg); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
