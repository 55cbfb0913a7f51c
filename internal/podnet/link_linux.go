package podnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Setup creates the bridge with the gateway address. It fails when a link
// with the bridge's name exists already.
func (n *Network) Setup() error {
	if _, err := netlink.LinkByName(n.BridgeName()); err == nil {
		return fmt.Errorf("podnet: link %s exists already (run `halyard down`, or use another prefix)", n.BridgeName())
	}
	la := netlink.NewLinkAttrs()
	la.Name = n.BridgeName()
	br := &netlink.Bridge{LinkAttrs: la}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("podnet: create bridge %s: %w", la.Name, err)
	}
	if err := netlink.AddrAdd(br, &netlink.Addr{IPNet: ipNet(n.gateway)}); err != nil {
		_ = netlink.LinkDel(br)
		return fmt.Errorf("podnet: bridge %s address %s: %w", la.Name, n.gateway, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		_ = netlink.LinkDel(br)
		return fmt.Errorf("podnet: bridge %s up: %w", la.Name, err)
	}
	return nil
}

// Close removes every pod and the bridge.
func (n *Network) Close() error {
	n.mu.Lock()
	pods := make([]*Pod, 0, len(n.byName))
	for _, p := range n.byName {
		pods = append(pods, p)
	}
	n.mu.Unlock()
	var errs []error
	for _, p := range pods {
		errs = append(errs, p.Remove())
	}
	if l, err := netlink.LinkByName(n.BridgeName()); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("podnet: delete bridge %s: %w", n.BridgeName(), err))
		}
	}
	return errors.Join(errs...)
}

// AddPod creates the pod's namespace, its veth pair on the bridge, its
// address and its default route through the bridge. key names the pod for
// Pod and Remove ("namespace/name").
func (n *Network) AddPod(key, namespace, name string) (*Pod, error) {
	ip, seq, err := n.allocate()
	if err != nil {
		return nil, err
	}
	p := &Pod{
		Name: NetnsName(n.opts.Prefix, seq, namespace, name), Veth: fmt.Sprintf("%s-%d", n.opts.Prefix, seq),
		IP: ip, owner: n,
	}
	p.Path = filepath.Join(NetnsDir, p.Name)
	if err := createNetns(p.Name); err != nil {
		return nil, err
	}
	if err := n.wire(p); err != nil {
		_ = p.Remove()
		return nil, err
	}
	n.mu.Lock()
	n.byName[key] = p
	n.mu.Unlock()
	return p, nil
}

// wire connects the namespace to the bridge and configures it.
func (n *Network) wire(p *Pod) error {
	ns, err := netns.GetFromPath(p.Path)
	if err != nil {
		return fmt.Errorf("podnet: open %s: %w", p.Path, err)
	}
	defer ns.Close()
	br, err := netlink.LinkByName(n.BridgeName())
	if err != nil {
		return fmt.Errorf("podnet: bridge %s: %w", n.BridgeName(), err)
	}
	la := netlink.NewLinkAttrs()
	la.Name, la.MasterIndex = p.Veth, br.Attrs().Index
	veth := &netlink.Veth{LinkAttrs: la, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(ns))}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("podnet: create veth %s: %w", p.Veth, err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		return fmt.Errorf("podnet: veth %s up: %w", p.Veth, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("podnet: netlink in %s: %w", p.Name, err)
	}
	defer h.Close()
	return configureInside(h, netip.PrefixFrom(p.IP, n.gateway.Bits()), n.Gateway())
}

// configureInside brings lo and eth0 up, gives eth0 the pod's address and
// routes everything through the bridge.
func configureInside(h *netlink.Handle, addr netip.Prefix, gw netip.Addr) error {
	for _, name := range []string{"lo", "eth0"} {
		l, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("podnet: %s: %w", name, err)
		}
		if name == "eth0" {
			if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(addr)}); err != nil {
				return fmt.Errorf("podnet: eth0 address %s: %w", addr, err)
			}
		}
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("podnet: %s up: %w", name, err)
		}
	}
	eth0, _ := h.LinkByName("eth0")
	route := &netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: net.IP(gw.AsSlice())}
	if err := h.RouteAdd(route); err != nil {
		return fmt.Errorf("podnet: default route via %s: %w", gw, err)
	}
	return nil
}

// Remove deletes the pod's veth pair and namespace.
func (p *Pod) Remove() error {
	if p.owner != nil {
		p.owner.mu.Lock()
		for k, q := range p.owner.byName {
			if q == p {
				delete(p.owner.byName, k)
			}
		}
		p.owner.mu.Unlock()
	}
	var errs []error
	if l, err := netlink.LinkByName(p.Veth); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("podnet: delete veth %s: %w", p.Veth, err))
		}
	}
	if err := deleteNetns(p.Path); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Do runs fn with the calling goroutine's thread inside the pod's
// namespace (sockets fn opens stay in it).
func (p *Pod) Do(fn func() error) error { return InNetns(p.Path, fn) }

// InNetns runs fn on a thread switched into the namespace at path.
func InNetns(path string, fn func() error) error {
	target, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("podnet: open %s: %w", path, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("podnet: current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("podnet: enter %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// The thread stays locked and dies with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("podnet: leave %s: %w", path, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// createNetns makes a named namespace without moving the caller. The
// thread that creates it returns to its namespace afterwards: a thread that
// died would send Pdeathsig to every child process started from it.
func createNetns(name string) error {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return fmt.Errorf("podnet: %w", err)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("podnet: current namespace: %w", err)
			return
		}
		defer orig.Close()
		ns, err := netns.NewNamed(name)
		if err == nil {
			ns.Close()
		}
		if serr := netns.Set(orig); serr != nil {
			// Stuck in the new namespace: the thread ends with this goroutine.
			errc <- errors.Join(err, fmt.Errorf("podnet: return from %s: %w", name, serr))
			return
		}
		runtime.UnlockOSThread()
		if err != nil {
			err = fmt.Errorf("podnet: create netns %s: %w", name, err)
		}
		errc <- err
	}()
	return <-errc
}

func deleteNetns(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("podnet: unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("podnet: remove %s: %w", path, err)
	}
	return nil
}

func ours(name, prefix string) bool { return name == prefix || strings.HasPrefix(name, prefix+"-") }

func listLinks(prefix string) ([]string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("podnet: list links: %w", err)
	}
	var out []string
	for _, l := range links {
		if ours(l.Attrs().Name, prefix) {
			out = append(out, "link "+l.Attrs().Name)
		}
	}
	return out, nil
}

// deleteLinks removes the veths first, then the bridge.
func deleteLinks(prefix string) ([]string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("podnet: list links: %w", err)
	}
	var removed []string
	var errs []error
	var bridge netlink.Link
	for _, l := range links {
		name := l.Attrs().Name
		switch {
		case name == prefix:
			bridge = l
		case ours(name, prefix):
			if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, fmt.Errorf("podnet: delete link %s: %w", name, err))
				continue
			}
			removed = append(removed, "link "+name)
		}
	}
	if bridge != nil {
		if err := netlink.LinkDel(bridge); err != nil {
			errs = append(errs, fmt.Errorf("podnet: delete bridge %s: %w", prefix, err))
		} else {
			removed = append(removed, "link "+prefix)
		}
	}
	return removed, errors.Join(errs...)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), 32)}
}
