package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// TableName is the nftables table (family ip) that holds the capture.
const TableName = "halyard"

// Apply replaces the capture in the network namespace nsFD (-1: the
// current one): table ip halyard with a nat output chain (outbound) and a
// nat prerouting chain (inbound).
func Apply(nsFD int, r Rules) error {
	c, err := conn(nsFD)
	if err != nil {
		return err
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	// Adding then deleting makes the delete valid whether or not the
	// table existed; the whole batch is one transaction.
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	out := c.AddChain(natChain(t, "output", nftables.ChainHookOutput))
	for _, e := range outboundRules(r) {
		c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: e})
	}
	in := c.AddChain(natChain(t, "prerouting", nftables.ChainHookPrerouting))
	for _, e := range inboundRules(r) {
		c.AddRule(&nftables.Rule{Table: t, Chain: in, Exprs: e})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("capture: program nftables: %w", err)
	}
	return nil
}

// Remove deletes the capture table, if any.
func Remove(nsFD int) error {
	c, err := conn(nsFD)
	if err != nil {
		return err
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("capture: remove nftables table: %w", err)
	}
	return nil
}

// Installed reports whether the capture table exists.
func Installed(nsFD int) (bool, error) {
	c, err := conn(nsFD)
	if err != nil {
		return false, err
	}
	_, err = c.ListTableOfFamily(TableName, nftables.TableFamilyIPv4)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("capture: list tables: %w", err)
	}
	return true, nil
}

func conn(nsFD int) (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if nsFD >= 0 {
		opts = append(opts, nftables.WithNetNSFd(nsFD))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("capture: netlink: %w", err)
	}
	return c, nil
}

func natChain(t *nftables.Table, name string, hook *nftables.ChainHook) *nftables.Chain {
	return &nftables.Chain{
		Name: name, Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: hook, Priority: nftables.ChainPriorityNATDest,
	}
}

// outboundRules: the sidecar's own sockets, loopback destinations, the
// excluded ports and ranges return; then TCP to the included ranges (or
// all) is redirected to the outbound port.
func outboundRules(r Rules) [][]expr.Any {
	rules := [][]expr.Any{
		append(tcp(), metaEq(expr.MetaKeySKGID, u32(r.ProxyGID))...),
		append(tcp(), daddrIn(netip.MustParsePrefix("127.0.0.0/8"))...),
	}
	for i := range rules {
		rules[i] = append(rules[i], verdict(expr.VerdictReturn))
	}
	for _, p := range r.ExcludeOutboundPorts {
		rules = append(rules, append(append(tcp(), dportEq(p)...), verdict(expr.VerdictReturn)))
	}
	for _, p := range r.ExcludeOutboundCIDRs {
		rules = append(rules, append(append(tcp(), daddrIn(p)...), verdict(expr.VerdictReturn)))
	}
	if r.IncludeOutboundCIDRs == nil {
		return append(rules, append(tcp(), redirect(r.OutboundPort)...))
	}
	for _, p := range r.IncludeOutboundCIDRs {
		rules = append(rules, append(append(tcp(), daddrIn(p)...), redirect(r.OutboundPort)...))
	}
	return rules
}

// inboundRules: connections arriving on the pod's interface are redirected
// to the inbound port unless their port is excluded.
func inboundRules(r Rules) [][]expr.Any {
	loopback := append(tcp(), &expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname("lo")}, verdict(expr.VerdictReturn))
	rules := [][]expr.Any{loopback}
	for _, p := range r.ExcludeInboundPorts {
		rules = append(rules, append(append(tcp(), dportEq(p)...), verdict(expr.VerdictReturn)))
	}
	return append(rules, append(tcp(), redirect(r.InboundPort)...))
}

func tcp() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
	}
}

func metaEq(key expr.MetaKey, data []byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data},
	}
}

func dportEq(port uint16) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be16(port)},
	}
}

// daddrIn matches an IPv4 destination inside the prefix.
func daddrIn(p netip.Prefix) []expr.Any {
	mask := make([]byte, 4)
	binary.BigEndian.PutUint32(mask, ^uint32(0)<<(32-p.Bits()))
	if p.Bits() == 0 {
		mask = []byte{0, 0, 0, 0}
	}
	addr := p.Masked().Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr[:]},
	}
}

func redirect(port uint16) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: be16(port)},
		&expr.Redir{RegisterProtoMin: 1},
	}
}

func verdict(k expr.VerdictKind) expr.Any { return &expr.Verdict{Kind: k} }

func be16(v uint16) []byte { b := make([]byte, 2); binary.BigEndian.PutUint16(b, v); return b }

// u32 is a meta value (skgid, mark): host byte order.
func u32(v uint32) []byte { b := make([]byte, 4); binary.NativeEndian.PutUint32(b, v); return b }

func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}
