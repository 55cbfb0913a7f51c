package bench

import (
	"testing"
)

func TestCoreSplit(t *testing.T) {
	for _, tc := range []struct {
		cpus        []int
		load, proxy string
		note        bool
	}{
		{[]int{0, 1}, "0", "1", false},
		{[]int{0, 1, 2, 3}, "0,1,2", "3", false},
		{[]int{2, 5, 7}, "2,5", "7", false},
		{[]int{0}, "", "", true},
	} {
		load, proxy, note := coreSplit(tc.cpus)
		if load != tc.load || proxy != tc.proxy || (note != "") != tc.note {
			t.Errorf("coreSplit(%v) = %q, %q, %q", tc.cpus, load, proxy, note)
		}
	}
	if len(allowedCPUs()) == 0 {
		t.Error("no allowed CPUs")
	}
}

func TestCapacity(t *testing.T) {
	for _, tc := range []struct{ measured, busy, want float64 }{
		{4278, 0.95, 4278 / 0.95},
		{11832, 0.61, 11832 / 0.61},
		{5000, 1.02, 5000}, // measurement noise: never below the measured rate
		{5000, 0, 0},
	} {
		if got := capacity(tc.measured, tc.busy); got != tc.want {
			t.Errorf("capacity(%v, %v) = %v, want %v", tc.measured, tc.busy, got, tc.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for p, want := range map[float64]float64{50: 5, 90: 9, 99: 10, 100: 10, 1: 1} {
		if got := percentile(v, p); got != want {
			t.Errorf("P%v = %v, want %v", p, got, want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("empty percentile")
	}
}
