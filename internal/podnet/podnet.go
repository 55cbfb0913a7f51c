// Package podnet gives each local pod its own network namespace: a bridge
// on the host with the first address of the pod range, one veth pair per
// pod (eth0 inside, the bridge's port outside) with the pod's address and a
// default route through the bridge. Every name it creates starts with the
// mesh's prefix, so that Cleanup can remove whatever a killed mesh left.
package podnet

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// NetnsDir is where named network namespaces are bind-mounted (as ip-netns does).
const NetnsDir = "/run/netns"

// Defaults keep clear of the private networks people use (198.18.0.0/15 is
// reserved for benchmarking, RFC 2544).
var (
	DefaultPodCIDR     = netip.MustParsePrefix("198.18.0.0/16")
	DefaultServiceCIDR = netip.MustParsePrefix("198.19.0.0/16")
)

// NewPrefix returns a fresh mesh prefix: "hy" and 4 hex digits, short enough
// for interface names ("hy1a2b-17").
func NewPrefix() string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return "hy" + hex.EncodeToString(b)
}

// Options configure a Network.
type Options struct {
	Prefix  string       // names of everything created start with it
	PodCIDR netip.Prefix // the bridge takes the first address, pods the next ones
}

// Network is one mesh's bridge and pods.
type Network struct {
	opts    Options
	gateway netip.Prefix // the bridge's address, with the range's length

	mu     sync.Mutex
	next   netip.Addr
	byName map[string]*Pod
	seq    int
}

// Pod is one pod's network namespace.
type Pod struct {
	Name  string // netns name (under NetnsDir)
	Veth  string // host side of its veth pair
	IP    netip.Addr
	Path  string // the namespace's bind mount
	owner *Network
}

// New checks the options; Setup creates the bridge.
func New(o Options) (*Network, error) {
	if err := checkPrefix(o.Prefix); err != nil {
		return nil, err
	}
	if !o.PodCIDR.Addr().Is4() || o.PodCIDR.Bits() > 29 {
		return nil, fmt.Errorf("podnet: pod range %s: need an IPv4 range of at least /29", o.PodCIDR)
	}
	o.PodCIDR = o.PodCIDR.Masked()
	gw := o.PodCIDR.Addr().Next()
	return &Network{opts: o, gateway: netip.PrefixFrom(gw, o.PodCIDR.Bits()), next: gw.Next(), byName: map[string]*Pod{}}, nil
}

func checkPrefix(p string) error {
	if len(p) < 2 || len(p) > 8 || strings.ContainsAny(p, "/-. ") {
		return fmt.Errorf("podnet: prefix %q: want 2 to 8 characters without '/', '-', '.' or blanks", p)
	}
	return nil
}

// Prefix is the mesh's name prefix.
func (n *Network) Prefix() string { return n.opts.Prefix }

// Gateway is the bridge's address: the host as the pods see it.
func (n *Network) Gateway() netip.Addr { return n.gateway.Addr() }

// BridgeName is the bridge's interface name.
func (n *Network) BridgeName() string { return n.opts.Prefix }

// Pod returns a pod's namespace by pod key, if it exists.
func (n *Network) Pod(key string) (*Pod, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p, ok := n.byName[key]
	return p, ok
}

// allocate reserves the next address and interface index.
func (n *Network) allocate() (netip.Addr, int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ip := n.next
	if !n.opts.PodCIDR.Contains(ip) || !n.opts.PodCIDR.Contains(ip.Next()) {
		return netip.Addr{}, 0, fmt.Errorf("podnet: pod range %s is exhausted", n.opts.PodCIDR)
	}
	n.next = ip.Next()
	n.seq++
	return ip, n.seq, nil
}

// NetnsName is the namespace name of a pod: "<prefix>-<seq>-<pod>.<namespace>"
// (seq keeps a restarting pod's new namespace apart from its old one).
func NetnsName(prefix string, seq int, namespace, pod string) string {
	return fmt.Sprintf("%s-%d-%s.%s", prefix, seq, pod, namespace)
}

// Cleanup removes every namespace and link whose name starts with prefix,
// and kills the processes still inside those namespaces: what a mesh that
// was killed left behind. It returns what it removed.
func Cleanup(prefix string) ([]string, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	entries, err := os.ReadDir(NetnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("podnet: %w", err))
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			path := filepath.Join(NetnsDir, e.Name())
			pids, err := killNetnsProcesses(path)
			if err != nil {
				errs = append(errs, err)
			}
			for _, pid := range pids {
				removed = append(removed, fmt.Sprintf("process %d in netns %s", pid, e.Name()))
			}
			if err := deleteNetns(path); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, "netns "+e.Name())
		}
	}
	links, err := deleteLinks(prefix)
	removed = append(removed, links...)
	if err != nil {
		errs = append(errs, err)
	}
	return removed, errors.Join(errs...)
}

// Leftovers lists the namespaces and links with the prefix that exist.
func Leftovers(prefix string) ([]string, error) {
	var out []string
	entries, err := os.ReadDir(NetnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("podnet: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			out = append(out, "netns "+e.Name())
		}
	}
	links, err := listLinks(prefix)
	return append(out, links...), err
}
