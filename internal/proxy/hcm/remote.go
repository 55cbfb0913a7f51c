package hcm

import (
	"net/http"
	"net/netip"
	"strings"
)

// trustedClient is Envoy's downstream remote address of a request, the
// address rbac's remote_ip (Istio's remoteIpBlocks and remote.ip) and the
// access log's %DOWNSTREAM_REMOTE_ADDRESS% see:
//
//   - without use_remote_address (sidecars), the (hops+1)th address from the
//     right of X-Forwarded-For, the last one by default;
//   - with use_remote_address and hops > 0, the hops-th from the right;
//   - otherwise, or when X-Forwarded-For has too few addresses or the one
//     picked is not an IP, the peer's address.
//
// An address taken from X-Forwarded-For has port 0, as in Envoy.
func trustedClient(h http.Header, peer netip.AddrPort, useRemote bool, hops uint32) netip.AddrPort {
	skip := int(hops) // addresses to skip from the right
	if useRemote {
		if hops == 0 {
			return peer
		}
		skip--
	}
	xff := h["X-Forwarded-For"]
	if len(xff) == 0 {
		return peer
	}
	// Several headers are one comma-separated list, in order.
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		for {
			j := strings.LastIndexByte(v, ',')
			if skip == 0 {
				a, err := netip.ParseAddr(strings.TrimSpace(v[j+1:]))
				if err != nil {
					return peer
				}
				return netip.AddrPortFrom(a.Unmap(), 0)
			}
			skip--
			if j < 0 {
				break
			}
			v = v[:j]
		}
	}
	return peer
}

// parseAddrPort parses an "ip:port" (net/http's RemoteAddr), with IPv4
// addresses in their 4-byte form.
func parseAddrPort(s string) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}
