package listener

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// soOriginalDst is SO_ORIGINAL_DST (linux/netfilter_ipv4.h).
const soOriginalDst = 80

// originalDst returns where a connection redirected by the pod's capture
// rules was going (SO_ORIGINAL_DST); redirected is false (and the address
// the local one) for a connection made to the listener itself.
func originalDst(c net.Conn) (dst netip.AddrPort, redirected bool, err error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return notRedirected(c)
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, false, fmt.Errorf("listener: original destination: %w", err)
	}
	var (
		mreq *syscall.IPv6Mreq
		gerr error
	)
	err = raw.Control(func(fd uintptr) {
		// The kernel fills a sockaddr_in; IPv6Mreq is a 20-byte buffer.
		mreq, gerr = syscall.GetsockoptIPv6Mreq(int(fd), syscall.SOL_IP, soOriginalDst)
	})
	if err == nil {
		err = gerr
	}
	if err != nil {
		return notRedirected(c) // no conntrack entry: not NATed
	}
	b := mreq.Multiaddr
	dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:4]))
	local, _, _ := notRedirected(c)
	return dst, dst != local, nil
}
