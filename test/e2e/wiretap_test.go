//go:build linux

package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWireBetweenSidecarsIsMutualTLS runs the demo in transparent mode and
// taps the mesh's bridge (an AF_PACKET socket, promiscuous, so frames
// forwarded between two pods' veths are seen too) while a pod loads
// productpage, which calls details and reviews, which calls ratings. Every
// TCP stream between two pods on the services' port must be TLS records
// from its first byte, starting with a ClientHello, with application data
// in both directions and no plaintext HTTP. As a control, with
// PeerAuthentication DISABLE and DestinationRules with tls DISABLE, the
// same tap must see the plaintext requests.
func TestWireBetweenSidecarsIsMutualTLS(t *testing.T) {
	m, gw := startTransparent(t, bookinfo())
	pods := netip.MustParsePrefix(strings.TrimSuffix(gw, "1") + "0/24")
	gateway := netip.MustParseAddr(gw)
	load := func() {
		t.Helper()
		const n = 10
		out, err := m.inPod("", fmt.Sprintf(`for i in $(seq %d); do curl -s -m 5 -o /dev/null -w '%%{http_code}\n' http://productpage:9080/productpage; done`, n))
		if err != nil || strings.Count(out, "200") != n {
			t.Fatalf("curl productpage x%d from a pod: %v\n%s", n, err, out)
		}
	}

	tap := startWireTap(t, m.state.NetPrefix, pods, gateway, 9080)
	load()
	flows := tap.stop()
	report := checkTLSFlows(t, flows)
	t.Logf("mutual TLS: %s", report)

	m.write("plaintext.yaml", plaintextMesh)
	deadline := time.Now().Add(30 * time.Second)
	for {
		tap := startWireTap(t, m.state.NetPrefix, pods, gateway, 9080)
		load()
		flows := tap.stop()
		plain := plaintextFlows(flows)
		if len(plain) > 0 {
			t.Logf("control (tls DISABLE): %d of %d pod-to-pod streams carry plaintext HTTP, e.g. %s", len(plain), len(flows), plain[0])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30s after DISABLE, the tap still sees no plaintext HTTP in %d streams: it cannot tell", len(flows))
		}
	}
}

// plaintextMesh turns mutual TLS off: inbound (PeerAuthentication) and
// outbound (a DestinationRule per service, named to come first so that its
// traffic policy wins over the demo's rules for the same host).
var plaintextMesh = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec:
  mtls: {mode: DISABLE}
` + func() string {
	var b strings.Builder
	for _, svc := range []string{"productpage", "details", "reviews", "ratings"} {
		fmt.Fprintf(&b, "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a-plaintext-%s}\nspec:\n  host: %s\n  trafficPolicy:\n    tls: {mode: DISABLE}\n", svc, svc)
	}
	return b.String()
}()

// checkTLSFlows asserts that the streams are TLS and returns a summary.
func checkTLSFlows(t *testing.T, flows map[flowKey]*flow) string {
	t.Helper()
	var opened, hellos, appData, records, total int
	dirs := map[bool]int{} // application data records towards the service port (true) and back
	for k, f := range flows {
		total += len(f.data)
		if i := plaintextAt(f.data); i >= 0 {
			t.Errorf("plaintext on the wire %s: %q", k, f.data[max(i-20, 0):min(i+40, len(f.data))])
		}
		if !f.syn {
			continue // opened before the tap: not necessarily at a record boundary
		}
		opened++
		recs, err := tlsRecords(f.data)
		if err != nil {
			t.Errorf("stream %s (%d bytes) is not TLS records: %v; starts %x", k, len(f.data), err, f.data[:min(len(f.data), 16)])
			continue
		}
		records += len(recs)
		if k.toService && len(recs) > 0 {
			if r := recs[0]; r.typ != 0x16 || len(r.body) == 0 || r.body[0] != 0x01 {
				t.Errorf("stream %s starts with record type %#x (handshake %x), want a ClientHello", k, r.typ, r.body[:min(len(r.body), 1)])
			} else {
				hellos++
			}
		}
		for _, r := range recs {
			if r.typ == 0x17 {
				appData++
				dirs[k.toService]++
			}
		}
	}
	if opened == 0 || hellos == 0 || dirs[true] == 0 || dirs[false] == 0 {
		t.Errorf("want new pod-to-pod connections with ClientHellos and application data both ways: %d opened, %d ClientHellos, application data records %d to the services and %d back",
			opened, hellos, dirs[true], dirs[false])
	}
	return fmt.Sprintf("%d streams (%d opened during the tap), %d bytes, %d TLS records, %d ClientHellos, %d application-data records (%d to the services, %d back), no plaintext HTTP",
		len(flows), opened, total, records, hellos, appData, dirs[true], dirs[false])
}

// plaintextFlows returns the streams carrying plaintext HTTP.
func plaintextFlows(flows map[flowKey]*flow) []string {
	var out []string
	for k, f := range flows {
		if i := plaintextAt(f.data); i >= 0 {
			out = append(out, fmt.Sprintf("%s: %q", k, f.data[i:min(i+40, len(f.data))]))
		}
	}
	return out
}

// plaintextAt returns where plaintext HTTP/1.1 appears in b, or -1.
func plaintextAt(b []byte) int {
	for _, s := range []string{"HTTP/1.1", "GET /"} {
		if i := bytes.Index(b, []byte(s)); i >= 0 {
			return i
		}
	}
	return -1
}

type tlsRecord struct {
	typ  byte
	body []byte
}

// tlsRecords splits a stream into TLS records: content type 20-23 (change
// cipher spec, alert, handshake, application data), version 3.1-3.4, a
// length of at most 2^14+256. A stream cut off by the end of the tap may
// end inside a record.
func tlsRecords(b []byte) ([]tlsRecord, error) {
	var out []tlsRecord
	for len(b) >= 5 {
		typ, ver, n := b[0], binary.BigEndian.Uint16(b[1:3]), int(binary.BigEndian.Uint16(b[3:5]))
		if typ < 0x14 || typ > 0x17 || ver < 0x0301 || ver > 0x0304 || n > 1<<14+256 {
			return out, fmt.Errorf("record %d: header %x", len(out)+1, b[:5])
		}
		body := b[5:min(5+n, len(b))]
		out = append(out, tlsRecord{typ: typ, body: body})
		b = b[len(body)+5:]
	}
	return out, nil
}

// flowKey is one direction of a TCP connection between two pods.
type flowKey struct {
	src, dst  netip.AddrPort
	toService bool // dst is the service port
}

func (k flowKey) String() string { return k.src.String() + "->" + k.dst.String() }

// flow is the payload of one direction: in sequence from the SYN when it
// was seen (retransmissions dropped), else in capture order.
type flow struct {
	syn  bool // the connection's SYN was seen
	next uint32
	data []byte
}

// wireTap captures the TCP payloads between pods on some ports from a
// link, in promiscuous mode, until stopped.
type wireTap struct {
	fd      int
	pods    netip.Prefix
	exclude netip.Addr // the bridge's own address (the host)
	ports   []uint16
	done    chan struct{}
	stopped chan struct{}

	mu    sync.Mutex
	flows map[flowKey]*flow
	bytes int
}

// tapLimit bounds what a tap keeps.
const tapLimit = 16 << 20

func startWireTap(t *testing.T, link string, pods netip.Prefix, exclude netip.Addr, ports ...uint16) *wireTap {
	t.Helper()
	ifc, err := net.InterfaceByName(link)
	if err != nil {
		t.Fatalf("tap: %v", err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		t.Fatalf("tap: AF_PACKET socket: %v", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
		unix.Close(fd)
		t.Fatalf("tap: bind %s: %v", link, err)
	}
	// A bridge hands frames it forwards between its ports to its own
	// device only in promiscuous mode; the membership ends with the socket.
	mreq := &unix.PacketMreq{Ifindex: int32(ifc.Index), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mreq); err != nil {
		unix.Close(fd)
		t.Fatalf("tap: promiscuous %s: %v", link, err)
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100_000}); err != nil {
		unix.Close(fd)
		t.Fatalf("tap: %v", err)
	}
	w := &wireTap{fd: fd, pods: pods, exclude: exclude, ports: ports, done: make(chan struct{}), stopped: make(chan struct{}),
		flows: map[flowKey]*flow{}}
	go w.read()
	t.Cleanup(func() { w.stop() })
	return w
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// read receives frames until stop (at most 100 ms later: the receive
// timeout), then closes the socket.
func (w *wireTap) read() {
	defer close(w.stopped)
	defer unix.Close(w.fd)
	buf := make([]byte, 1<<18) // frames of segmentation offload exceed the MTU
	for {
		select {
		case <-w.done:
			return
		default:
		}
		n, _, err := unix.Recvfrom(w.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		w.frame(buf[:n])
	}
}

// stop ends the capture and returns the streams.
func (w *wireTap) stop() map[flowKey]*flow {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	<-w.stopped
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flows
}

// frame records an Ethernet frame's IPv4 TCP payload between two pods on
// one of the ports.
func (w *wireTap) frame(b []byte) {
	if len(b) < 14+20 || binary.BigEndian.Uint16(b[12:14]) != 0x0800 {
		return
	}
	ip := b[14:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if ip[0]>>4 != 4 || ip[9] != unix.IPPROTO_TCP || ihl < 20 || total > len(ip) || total < ihl+20 {
		return
	}
	src, dst := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
	if !w.pods.Contains(src) || !w.pods.Contains(dst) || src == w.exclude || dst == w.exclude {
		return
	}
	tcp := ip[ihl:total]
	sport, dport := binary.BigEndian.Uint16(tcp[0:2]), binary.BigEndian.Uint16(tcp[2:4])
	k := flowKey{src: netip.AddrPortFrom(src, sport), dst: netip.AddrPortFrom(dst, dport)}
	for _, p := range w.ports {
		if dport == p {
			k.toService = true
		}
	}
	if !k.toService && !w.hasPort(sport) {
		return
	}
	off := int(tcp[12]>>4) * 4
	if off < 20 || off > len(tcp) {
		return
	}
	payload, syn, seq := tcp[off:], tcp[13]&0x02 != 0, binary.BigEndian.Uint32(tcp[4:8])
	w.mu.Lock()
	defer w.mu.Unlock()
	f := w.flows[k]
	if f == nil {
		f = &flow{}
		w.flows[k] = f
	}
	switch {
	case syn:
		f.syn, f.next = true, seq+1
		return
	case len(payload) == 0:
		return
	case f.syn && seq != f.next:
		return // a retransmission (or reordered: then the stream fails to parse)
	}
	f.next = seq + uint32(len(payload))
	if w.bytes+len(payload) <= tapLimit {
		f.data = append(f.data, payload...)
		w.bytes += len(payload)
	}
}

func (w *wireTap) hasPort(p uint16) bool {
	for _, x := range w.ports {
		if x == p {
			return true
		}
	}
	return false
}
