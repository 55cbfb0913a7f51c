package upstream

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeDNS answers lookups from a table that tests change.
type fakeDNS struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	fail    bool
}

func (d *fakeDNS) set(host string, addrs ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	d.answers[host] = out
}

func (d *fakeDNS) lookup(_ context.Context, host string) ([]netip.Addr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail {
		return nil, errors.New("dns: server failure")
	}
	if a, ok := d.answers[host]; ok {
		return a, nil
	}
	return nil, errors.New("dns: no such host")
}

func hostAddrs(c *Cluster) []string {
	var out []string
	for _, h := range c.Hosts() {
		out = append(out, h.Address)
	}
	return out
}

// TestStrictDNS: a STRICT_DNS cluster's names become one host per address
// of the lookup family at every refresh; hosts that stay keep their state;
// a failed lookup keeps the last answer; a configuration push with the same
// endpoints keeps the resolved hosts; removing the cluster stops the
// lookups.
func TestStrictDNS(t *testing.T) {
	clock := newFakeClock()
	dns := &fakeDNS{answers: map[string][]netip.Addr{}}
	dns.set("api.example.com", "10.0.0.2", "10.0.0.1", "2001:db8::1")
	m := NewManager(slog.New(slog.DiscardHandler), WithClock(clock), WithLookup(dns.lookup))
	cfg := Config{Name: "dns", Type: StrictDNS, DNSRefreshRate: time.Minute, DNSLookupFamily: V4Only,
		Endpoints: []EndpointConfig{{Address: "api.example.com:443", Weight: 2}, {Address: "10.0.0.9:443", Weight: 1}, {Address: "gone.example.com:443", Weight: 1}}}
	if err := m.UpdateClusters([]Config{cfg}); err != nil {
		t.Fatal(err)
	}
	c := m.Get("dns")
	// Before the first answer: the names themselves.
	if got, want := hostAddrs(c), []string{"10.0.0.9:443", "api.example.com:443", "gone.example.com:443"}; !slices.Equal(got, want) {
		t.Fatalf("before resolution: %q, want %q", got, want)
	}
	clock.Advance(0)
	// gone.example.com does not resolve: it stays a name.
	want := []string{"10.0.0.1:443", "10.0.0.2:443", "10.0.0.9:443", "gone.example.com:443"}
	if got := hostAddrs(c); !slices.Equal(got, want) {
		t.Fatalf("resolved: %q, want %q", got, want)
	}
	if w := c.Hosts()[0].Weight; w != 2 {
		t.Errorf("a resolved address has weight %d, want its endpoint's 2", w)
	}
	kept := c.Hosts()[0]

	dns.set("api.example.com", "10.0.0.1", "10.0.0.3")
	clock.Advance(59 * time.Second)
	if got := hostAddrs(c); !slices.Equal(got, want) {
		t.Fatalf("before the refresh: %q, want %q", got, want)
	}
	clock.Advance(time.Second)
	want = []string{"10.0.0.1:443", "10.0.0.3:443", "10.0.0.9:443", "gone.example.com:443"}
	if got := hostAddrs(c); !slices.Equal(got, want) {
		t.Fatalf("after the refresh: %q, want %q", got, want)
	}
	if c.Hosts()[0] != kept {
		t.Error("10.0.0.1 was replaced: its state (outlier ejection, active requests) is lost")
	}

	dns.mu.Lock()
	dns.fail = true
	dns.mu.Unlock()
	clock.Advance(time.Minute)
	if got := hostAddrs(c); !slices.Equal(got, want) {
		t.Fatalf("after a failed lookup: %q, want the last answer %q", got, want)
	}

	if err := m.UpdateClusters([]Config{cfg}); err != nil {
		t.Fatal(err)
	}
	if got := hostAddrs(c); !slices.Equal(got, want) {
		t.Fatalf("after the same configuration again: %q, want %q", got, want)
	}

	if err := m.UpdateClusters(nil); err != nil {
		t.Fatal(err)
	}
	if n := clock.pending(); n != 0 {
		t.Errorf("%d timers pending after the cluster was removed", n)
	}
}

func TestDNSLookupFamily(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("::ffff:10.0.0.2")}
	v4 := []netip.Addr{netip.MustParseAddr("10.0.0.1")}
	for _, tc := range []struct {
		f     DNSLookupFamily
		in    []netip.Addr
		wantN int
	}{
		{V4Only, addrs, 2}, {V6Only, addrs, 1}, {All, addrs, 3},
		{Auto, addrs, 1}, {Auto, v4, 1}, {V4Preferred, addrs, 2},
		{V4Preferred, []netip.Addr{netip.MustParseAddr("2001:db8::1")}, 1}, {V6Only, v4, 0},
	} {
		if got := family(tc.in, tc.f); len(got) != tc.wantN {
			t.Errorf("family %d of %v: %v, want %d addresses", tc.f, tc.in, got, tc.wantN)
		}
	}
}
