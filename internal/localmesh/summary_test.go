package localmesh

import (
	"testing"

	"github.com/halyard-mesh/halyard/internal/controlplane"
)

func TestHasConfig(t *testing.T) {
	ts := func(want, sent, acked string) *controlplane.TypeState {
		return &controlplane.TypeState{Want: want, Sent: sent, Acked: acked}
	}
	all := func(rds, eds *controlplane.TypeState) controlplane.ProxyStatus {
		return controlplane.ProxyStatus{Connected: true, Types: map[string]*controlplane.TypeState{
			"LDS": ts("1", "1", "1"), "CDS": ts("1", "1", "1"), "RDS": rds, "EDS": eds}}
	}
	for _, tc := range []struct {
		name string
		st   controlplane.ProxyStatus
		want bool
	}{
		{"everything acked", all(ts("2", "2", "2"), ts("3", "3", "3")), true},
		{"no routes asked for (no HTTP port)", all(ts("2", "", ""), ts("3", "3", "3")), true},
		{"new endpoints not yet acked", all(ts("2", "2", "2"), ts("4", "3", "3")), false},
		{"new endpoints sent, not acked", all(ts("2", "2", "2"), ts("4", "4", "3")), false},
		{"disconnected", controlplane.ProxyStatus{Types: all(ts("2", "2", "2"), ts("3", "3", "3")).Types}, false},
		{"listeners not acked", controlplane.ProxyStatus{Connected: true, Types: map[string]*controlplane.TypeState{
			"LDS": ts("1", "", ""), "CDS": ts("1", "1", "1")}}, false},
	} {
		if got := hasConfig(tc.st); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
