package upstream

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

func odManager(t *testing.T) (*Manager, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	m := NewManager(slog.New(slog.NewTextHandler(io.Discard, nil)), WithClock(clk))
	t.Cleanup(m.Close)
	return m, clk
}

func odConfig(od OutlierConfig, panic float64) Config {
	return Config{Name: "c", Type: EDS, EDSServiceName: "c", Outlier: &od, HealthyPanicThreshold: panic}
}

func endpoints(addrs ...string) map[string][]EndpointConfig {
	eps := make([]EndpointConfig, len(addrs))
	for i, a := range addrs {
		eps[i] = EndpointConfig{Address: a, Weight: 1}
	}
	return map[string][]EndpointConfig{"c": eps}
}

func host(c *Cluster, addr string) *Host {
	for _, h := range c.Hosts() {
		if h.Address == addr {
			return h
		}
	}
	return nil
}

// picked returns the addresses a cluster picks over n round-robin picks.
func picked(c *Cluster, n int) map[string]int {
	out := map[string]int{}
	for range n {
		if h := c.Pick(nil); h != nil {
			out[h.Address]++
		} else {
			out["<none>"]++
		}
	}
	return out
}

func report(h *Host, n int, o Outcome) {
	for range n {
		h.Report(o)
	}
}

func TestOutlierConsecutive(t *testing.T) {
	od := DefaultOutlier
	od.MaxEjectionPercent = 100
	od.EnforcingConsecutiveGatewayFailure = 100
	od.ConsecutiveGatewayFailure = 3
	local := od
	local.SplitExternalLocalOriginErrors = true
	local.ConsecutiveLocalOriginFailure = 2
	noGW := od
	noGW.EnforcingConsecutiveGatewayFailure = 0

	tests := []struct {
		name     string
		od       OutlierConfig
		outcomes []Outcome
		ejected  bool
	}{
		{"5 × 500 ejects", od, rep(5, Outcome{Status: 500}), true},
		{"4 × 500 does not", od, rep(4, Outcome{Status: 500}), false},
		{"a success resets the count", od, append(append(rep(4, Outcome{Status: 500}), Outcome{Status: 200}), rep(4, Outcome{Status: 500})...), false},
		{"3 × 503 is a gateway failure", od, rep(3, Outcome{Status: 503}), true},
		{"gateway failures not enforced", noGW, rep(3, Outcome{Status: 503}), false},
		{"a 500 breaks the gateway run", noGW, []Outcome{{Status: 503}, {Status: 503}, {Status: 500}, {Status: 503}}, false},
		{"connect failures count as 503", od, rep(3, Outcome{ConnectFailure: true}), true},
		{"timeouts count as 504", od, rep(3, Outcome{Timeout: true}), true},
		{"4xx is no failure", od, rep(10, Outcome{Status: 404}), false},
		{"split: local failures apart", local, rep(2, Outcome{ConnectFailure: true}), true},
		{"split: local failures do not count as 5xx", func() OutlierConfig { o := local; o.ConsecutiveLocalOriginFailure = 50; return o }(),
			rep(10, Outcome{Reset: true}), false},
		{"split: a response resets local failures", local, []Outcome{{ConnectFailure: true}, {Status: 500}, {ConnectFailure: true}}, false},
		{"split: 5xx still counts", local, rep(5, Outcome{Status: 500}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := odManager(t)
			if err := m.UpdateClusters([]Config{odConfig(tt.od, 0)}); err != nil {
				t.Fatal(err)
			}
			m.UpdateEndpoints(endpoints("a:1", "b:1"))
			c := m.Get("c")
			h := host(c, "a:1")
			for _, o := range tt.outcomes {
				h.Report(o)
			}
			if h.Ejected() != tt.ejected {
				t.Fatalf("ejected %v, want %v", h.Ejected(), tt.ejected)
			}
			if tt.ejected {
				if p := picked(c, 10); p["a:1"] != 0 || p["b:1"] != 10 {
					t.Errorf("ejected host still picked: %v", p)
				}
				if s := c.Stats(); s.Healthy != 1 || s.Ejections != 1 {
					t.Errorf("stats %+v", s)
				}
			}
		})
	}
}

func rep(n int, o Outcome) []Outcome {
	out := make([]Outcome, n)
	for i := range out {
		out[i] = o
	}
	return out
}

// TestOutlierEjectionTime follows one host through two ejections: it
// returns after base_ejection_time × ejections, at the interval tick, and
// the multiplier decays while it stays healthy.
func TestOutlierEjectionTime(t *testing.T) {
	m, clk := odManager(t)
	od := DefaultOutlier
	od.Consecutive5xx, od.Interval, od.BaseEjectionTime, od.MaxEjectionPercent = 1, time.Second, 30*time.Second, 100
	if err := m.UpdateClusters([]Config{odConfig(od, 0)}); err != nil {
		t.Fatal(err)
	}
	m.UpdateEndpoints(endpoints("a:1", "b:1", "c:1"))
	c := m.Get("c")
	a := host(c, "a:1")
	a.Report(Outcome{Status: 503})
	if !a.Ejected() {
		t.Fatal("not ejected")
	}
	clk.Advance(29 * time.Second)
	if !a.Ejected() {
		t.Fatal("back before base_ejection_time")
	}
	clk.Advance(time.Second)
	if a.Ejected() {
		t.Fatal("still ejected after base_ejection_time")
	}
	if p := picked(c, 30); p["a:1"] != 10 {
		t.Errorf("returned host not balanced: %v", p)
	}
	// Second ejection right away: twice as long.
	a.Report(Outcome{Status: 503})
	clk.Advance(59 * time.Second)
	if !a.Ejected() {
		t.Fatal("second ejection shorter than 2 × base")
	}
	clk.Advance(time.Second)
	if a.Ejected() {
		t.Fatal("second ejection longer than 2 × base")
	}
	// Healthy for two intervals: the multiplier is back to 0, the timer
	// stops.
	clk.Advance(3 * time.Second)
	if n := clk.pending(); n != 0 {
		t.Errorf("%d timers pending with nothing to do", n)
	}
	a.Report(Outcome{Status: 503})
	clk.Advance(30 * time.Second)
	if a.Ejected() {
		t.Error("multiplier did not decay")
	}
}

func TestOutlierMaxEjectionPercentAndPanic(t *testing.T) {
	od := DefaultOutlier
	od.Consecutive5xx = 1
	for _, tt := range []struct {
		name       string
		maxPct     uint32
		oneHost    bool
		panic      float64
		fail       []string
		wantPicked []string // hosts picked afterwards
	}{
		{"10% of 3 hosts: no ejection", 10, false, 0, []string{"a:1"}, []string{"a:1", "b:1", "c:1"}},
		{"always_eject_one_host", 10, true, 0, []string{"a:1", "b:1"}, []string{"b:1", "c:1"}},
		{"50%: one of three", 50, false, 0, []string{"a:1", "b:1"}, []string{"b:1", "c:1"}},
		{"100%, no panic: all ejected is UH", 100, false, 0, []string{"a:1", "b:1", "c:1"}, nil},
		{"panic at 50%: one healthy of three uses all", 100, false, 50, []string{"a:1", "b:1"}, []string{"a:1", "b:1", "c:1"}},
		{"panic at 50%: two of three healthy is fine", 100, false, 50, []string{"a:1"}, []string{"b:1", "c:1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := odManager(t)
			o := od
			o.MaxEjectionPercent, o.AlwaysEjectOneHost = tt.maxPct, tt.oneHost
			if err := m.UpdateClusters([]Config{odConfig(o, tt.panic)}); err != nil {
				t.Fatal(err)
			}
			m.UpdateEndpoints(endpoints("a:1", "b:1", "c:1"))
			c := m.Get("c")
			for _, a := range tt.fail {
				host(c, a).Report(Outcome{Status: 500})
			}
			p := picked(c, 30)
			if tt.wantPicked == nil {
				if p["<none>"] != 30 {
					t.Errorf("picked %v, want none (503 UH)", p)
				}
				return
			}
			if len(p) != len(tt.wantPicked) {
				t.Errorf("picked %v, want %v", p, tt.wantPicked)
			}
			for _, a := range tt.wantPicked {
				if p[a] == 0 {
					t.Errorf("picked %v, want %v", p, tt.wantPicked)
				}
			}
		})
	}
}

// TestOutlierStateSurvivesUpdates checks that ejections outlive CDS and EDS
// updates that keep the host, and that removing outlier detection or the
// cluster stops the timer.
func TestOutlierStateSurvivesUpdates(t *testing.T) {
	m, clk := odManager(t)
	od := DefaultOutlier
	od.Consecutive5xx, od.Interval, od.MaxEjectionPercent = 1, time.Second, 100
	cfg := odConfig(od, 0)
	cfg.Policy = RingHash
	if err := m.UpdateClusters([]Config{cfg}); err != nil {
		t.Fatal(err)
	}
	m.UpdateEndpoints(endpoints("a:1", "b:1", "c:1"))
	c := m.Get("c")
	host(c, "b:1").Report(Outcome{Status: 500})

	// CDS update with another connect timeout and lb config, EDS with a new
	// host and a weight change of the ejected one.
	cfg2 := cfg
	cfg2.ConnectTimeout = 3 * time.Second
	cfg2.LB.MinRingSize = 2048
	if err := m.UpdateClusters([]Config{cfg2, {Name: "other", Type: Static}}); err != nil {
		t.Fatal(err)
	}
	m.UpdateEndpoints(map[string][]EndpointConfig{"c": {{Address: "a:1", Weight: 1}, {Address: "b:1", Weight: 2}, {Address: "c:1", Weight: 1}, {Address: "d:1", Weight: 1}}})
	if b := host(c, "b:1"); !b.Ejected() || b.Weight != 2 {
		t.Fatalf("b after updates: ejected %v weight %d", b.Ejected(), b.Weight)
	}
	for i := range 1000 {
		if h := c.Pick(keyHash(i)); h.Address == "b:1" {
			t.Fatal("ejected host picked after updates")
		}
	}
	// Turning outlier detection off brings it back and stops the timer.
	cfg3 := cfg2
	cfg3.Outlier = nil
	if err := m.UpdateClusters([]Config{cfg3}); err != nil {
		t.Fatal(err)
	}
	if host(c, "b:1").Ejected() || clk.pending() != 0 {
		t.Errorf("outlier detection off: ejected %v, %d timers", host(c, "b:1").Ejected(), clk.pending())
	}
	// Removing the cluster stops its timer.
	if err := m.UpdateClusters([]Config{cfg}); err != nil {
		t.Fatal(err)
	}
	host(c, "a:1").Report(Outcome{Status: 500})
	if clk.pending() != 1 {
		t.Fatalf("%d timers, want 1", clk.pending())
	}
	if err := m.UpdateClusters(nil); err != nil {
		t.Fatal(err)
	}
	if clk.pending() != 0 {
		t.Errorf("removed cluster left %d timers", clk.pending())
	}
	clk.Advance(time.Minute)
}

// TestOutlierRealClock runs the real timer under the race detector: an
// ejection ends on its own and Close stops everything.
func TestOutlierRealClock(t *testing.T) {
	m := testManager()
	od := DefaultOutlier
	od.Consecutive5xx, od.Interval, od.BaseEjectionTime, od.MaxEjectionPercent = 1, 10*time.Millisecond, 10*time.Millisecond, 100
	if err := m.UpdateClusters([]Config{odConfig(od, 0)}); err != nil {
		t.Fatal(err)
	}
	m.UpdateEndpoints(endpoints("a:1", "b:1"))
	c := m.Get("c")
	a := host(c, "a:1")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			if h := c.Pick(nil); h != nil {
				h.Report(Outcome{Status: 200})
			}
		}
	}()
	a.Report(Outcome{Status: 500})
	<-done
	deadline := time.Now().Add(5 * time.Second)
	for a.Ejected() {
		if time.Now().After(deadline) {
			t.Fatal("host never returned")
		}
		time.Sleep(5 * time.Millisecond)
	}
	m.Close()
}

func TestReportWithoutDetection(t *testing.T) {
	(&Host{Address: "x"}).Report(Outcome{Status: 500}) // no cluster: no-op
	m := testManager()
	if err := m.UpdateClusters([]Config{{Name: "c", Type: Static, Endpoints: []EndpointConfig{{Address: "a:1", Weight: 1}}}}); err != nil {
		t.Fatal(err)
	}
	h := m.Get("c").Pick(nil)
	report(h, 100, Outcome{Status: 500})
	if h.Ejected() {
		t.Error("ejected without outlier_detection")
	}
}
