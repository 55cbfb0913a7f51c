//go:build !linux

package listener

import (
	"net"
	"net/netip"
)

// originalDst is the local address where SO_ORIGINAL_DST does not exist.
func originalDst(c net.Conn) (netip.AddrPort, bool, error) { return notRedirected(c) }
