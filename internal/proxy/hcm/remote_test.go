package hcm

import (
	"net/http"
	"net/netip"
	"testing"
)

// The client's address follows Envoy's rules for use_remote_address and
// xff_num_trusted_hops (its x-forwarded-for documentation's examples
// among the cases).
func TestTrustedClient(t *testing.T) {
	const peer = "10.11.12.13:5555"
	for _, c := range []struct {
		name      string
		xff       []string
		useRemote bool
		hops      uint32
		want      string
	}{
		{"no xff", nil, false, 0, peer},
		{"sidecar: last xff address", []string{"203.0.113.128, 203.0.113.10, 203.0.113.1, 192.0.2.5"}, false, 0, "192.0.2.5:0"},
		{"sidecar, 2 trusted hops", []string{"203.0.113.128, 203.0.113.10, 203.0.113.1, 192.0.2.5"}, false, 2, "203.0.113.10:0"},
		{"edge: the peer", []string{"203.0.113.128, 203.0.113.10, 203.0.113.1"}, true, 0, peer},
		{"edge, 2 trusted hops", []string{"203.0.113.128, 203.0.113.10, 203.0.113.1"}, true, 2, "203.0.113.10:0"},
		{"too few addresses", []string{"203.0.113.1"}, false, 1, peer},
		{"not an address", []string{"1.2.3.4, unknown"}, false, 0, peer},
		{"several headers are one list", []string{"1.1.1.1, 2.2.2.2", "3.3.3.3"}, false, 1, "2.2.2.2:0"},
		{"ipv6, spaces", []string{" 2001:db8::1 "}, false, 0, "[2001:db8::1]:0"},
		{"ipv4-mapped", []string{"::ffff:192.0.2.7"}, false, 0, "192.0.2.7:0"},
	} {
		r := &http.Request{RemoteAddr: peer, Header: http.Header{}}
		if c.xff != nil {
			r.Header["X-Forwarded-For"] = c.xff
		}
		got := trustedClient(r.Header, netip.MustParseAddrPort(peer), c.useRemote, c.hops)
		if got != netip.MustParseAddrPort(c.want) {
			t.Errorf("%s: %v, want %s", c.name, got, c.want)
		}
	}
}

func BenchmarkTrustedClient(b *testing.B) {
	r := &http.Request{RemoteAddr: "10.11.12.13:5555", Header: http.Header{"X-Forwarded-For": {"203.0.113.128, 192.0.2.5"}}}
	b.ReportAllocs()
	for b.Loop() {
		trustedClient(r.Header, netip.MustParseAddrPort(r.RemoteAddr), false, 0)
	}
}
