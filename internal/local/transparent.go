package local

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/halyard-mesh/halyard/internal/capture"
	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/podnet"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// Transparent mode: every pod gets its own network namespace (podnet) with
// Istio's capture rules (capture), its processes run inside it through the
// pod-exec helper (`halyard pod-exec`), which also bind-mounts the pod's
// namespace hosts file on /etc/hosts so that service names resolve to
// their virtual IPs, and containers listen on their container ports.

// Transparent configures transparent mode; a nil *Transparent in Options
// is explicit mode.
type Transparent struct {
	Network     *podnet.Network
	ServiceCIDR netip.Prefix
	// PodExec is the argv prefix that runs a command in a pod:
	// ["/path/halyard", "pod-exec"]; the runner appends --netns, --hosts,
	// "--" and the command.
	PodExec []string
}

// Well-known sidecar ports inside a pod (Istio's).
const (
	sidecarAdminPort  = 15000
	sidecarStatsPort  = 15090
	sidecarHealthPort = 15021
	defaultAppPort    = 8080 // PORT for a container without ports
)

// vipTable hands out service virtual IPs, stable for a run.
type vipTable struct {
	mu     sync.Mutex
	cidr   netip.Prefix
	next   netip.Addr
	byHost map[string]netip.Addr
}

func newVIPTable(cidr netip.Prefix) *vipTable {
	return &vipTable{cidr: cidr.Masked(), next: cidr.Masked().Addr().Next(), byHost: map[string]netip.Addr{}}
}

func (t *vipTable) get(host string) (netip.Addr, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a, ok := t.byHost[host]; ok {
		return a, nil
	}
	if !t.cidr.Contains(t.next) {
		return netip.Addr{}, fmt.Errorf("local: service range %s is exhausted", t.cidr)
	}
	a := t.next
	t.byHost[host], t.next = a, a.Next()
	return a, nil
}

// hostsFiles writes StateDir/hosts/<namespace> for every namespace that has
// pods or services: localhost, then each Kubernetes Service's VIP with its
// names (the short name only in its own namespace). Files are rewritten in
// place, so that bind mounts of them see the change.
func (r *Runner) writeHostsFiles(cfg *config.Snapshot, namespaces []string) error {
	type entry struct {
		vip      netip.Addr
		name, ns string
	}
	var entries []entry
	for _, s := range cfg.Services {
		host := s.Name + "." + s.Namespace + ".svc." + registry.DefaultDomainSuffix
		vip, err := r.vips.get(host)
		if err != nil {
			return err
		}
		entries = append(entries, entry{vip, s.Name, s.Namespace})
	}
	slices.SortFunc(entries, func(a, b entry) int { return a.vip.Compare(b.vip) })
	if err := os.MkdirAll(r.hostsDir(), 0o755); err != nil {
		return fmt.Errorf("local: hosts files: %w", err)
	}
	for _, ns := range namespaces {
		var b strings.Builder
		b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
		for _, e := range entries {
			fqdn := e.name + "." + e.ns
			fmt.Fprintf(&b, "%s\t%s.svc.%s %s.svc %s", e.vip, fqdn, registry.DefaultDomainSuffix, fqdn, fqdn)
			if e.ns == ns {
				b.WriteString(" " + e.name)
			}
			b.WriteByte('\n')
		}
		if err := writeInPlace(r.hostsFile(ns), b.String()); err != nil {
			return err
		}
		if err := writeInPlace(r.resolvFile(ns), resolvConf(ns)); err != nil {
			return err
		}
	}
	return nil
}

// resolvConf is a pod's /etc/resolv.conf: Kubernetes' search path, and a
// name server on the pod's own loopback, where none listens, so that a
// name the hosts file does not have fails at once (pods have no route to
// the host's resolver; a DNS proxy in the sidecar is not there yet).
func resolvConf(ns string) string {
	suffix := registry.DefaultDomainSuffix
	return fmt.Sprintf("# halyard: mesh services are in /etc/hosts\nnameserver 127.0.0.1\nsearch %s.svc.%s svc.%s %s\noptions ndots:5 timeout:1 attempts:1\n",
		ns, suffix, suffix, suffix)
}

func (r *Runner) hostsDir() string            { return filepath.Join(r.opts.StateDir, "hosts") }
func (r *Runner) hostsFile(ns string) string  { return filepath.Join(r.hostsDir(), ns) }
func (r *Runner) resolvFile(ns string) string { return filepath.Join(r.hostsDir(), ns+".resolv.conf") }

func writeInPlace(path, content string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("local: hosts file: %w", err)
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("local: hosts file %s: %w", path, err)
	}
	return nil
}

// podNamespaces lists the namespaces of the pods to run, sorted.
func podNamespaces(specs []podSpec) []string {
	var out []string
	for _, s := range specs {
		if !slices.Contains(out, s.Namespace) {
			out = append(out, s.Namespace)
		}
	}
	slices.Sort(out)
	return out
}

// setupPodNetwork creates the pod's namespace and, with a sidecar, its
// capture; it fills in the pod's address and the sidecar's.
func (r *Runner) setupPodNetwork(p *pod) error {
	tr := r.opts.Transparent
	rules, err := capture.Defaults(sidecarAdminPort, sidecarStatsPort, sidecarHealthPort).WithAnnotations(p.spec.Annotations)
	if err != nil {
		return fmt.Errorf("local: pod %s: %w", p.spec.key(), err)
	}
	np, err := tr.Network.AddPod(p.spec.key(), p.spec.Namespace, p.spec.Name)
	if err != nil {
		return fmt.Errorf("local: pod %s: %w", p.spec.key(), err)
	}
	p.net = np
	p.status.IP = np.IP.String()
	if !p.spec.Sidecar {
		return nil
	}
	p.status.AdminAddress = net.JoinHostPort(p.status.IP, strconv.Itoa(sidecarAdminPort))
	p.status.StatsAddress = net.JoinHostPort(p.status.IP, strconv.Itoa(sidecarStatsPort))
	p.status.HealthAddress = net.JoinHostPort(p.status.IP, strconv.Itoa(sidecarHealthPort))
	f, err := os.Open(np.Path)
	if err != nil {
		return fmt.Errorf("local: pod %s: %w", p.spec.key(), err)
	}
	defer f.Close()
	if err := capture.Apply(int(f.Fd()), rules); err != nil {
		return fmt.Errorf("local: pod %s: %w", p.spec.key(), err)
	}
	return nil
}

// transparentPort is a container port in transparent mode: the app listens
// on the container port itself; peers reach it at the pod's IP (through
// the sidecar, whose capture takes the connection). A port excluded from
// inbound capture is reached without the sidecar, so its endpoint is not
// a sidecar's (no mutual TLS to it).
func transparentPort(p *pod, cp uint32, name string) registry.PodPort {
	port := strconv.Itoa(int(cp))
	pp := registry.PodPort{Name: name, ContainerPort: cp, AppAddress: net.JoinHostPort("127.0.0.1", port)}
	if p.spec.Sidecar && !inboundExcluded(p, cp) {
		pp.InboundAddress = net.JoinHostPort(p.status.IP, port)
	} else {
		pp.AppAddress = net.JoinHostPort(p.status.IP, port)
	}
	return pp
}

// inboundExcluded reports whether the pod's annotations exclude a port
// from inbound capture (bad annotations fail the pod's capture setup).
func inboundExcluded(p *pod, cp uint32) bool {
	rules, err := capture.Rules{}.WithAnnotations(p.spec.Annotations)
	return err == nil && cp <= 0xffff && slices.Contains(rules.ExcludeInboundPorts, uint16(cp))
}

// inPod wraps a process so that it runs inside the pod's namespace, with
// the pod's hosts file.
func (r *Runner) inPod(p *pod, ps procSpec) procSpec {
	tr := r.opts.Transparent
	args := append(slices.Clone(tr.PodExec[1:]), "--netns", p.net.Path,
		"--hosts", r.hostsFile(p.spec.Namespace), "--resolv", r.resolvFile(p.spec.Namespace), "--", ps.Path)
	ps.Args = append(args, ps.Args...)
	ps.Path = tr.PodExec[0]
	return ps
}

// NetnsPath is the network namespace of a pod ("namespace/name"), "" in
// explicit mode.
func (r *Runner) NetnsPath(key string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.pods[key]; p != nil && p.net != nil {
		return p.net.Path
	}
	return ""
}

// HostsFile is the hosts file of a namespace's pods, "" in explicit mode.
func (r *Runner) HostsFile(namespace string) string {
	if r.opts.Transparent == nil {
		return ""
	}
	return r.hostsFile(namespace)
}

// ResolvFile is the resolv.conf of a namespace's pods, "" in explicit mode.
func (r *Runner) ResolvFile(namespace string) string {
	if r.opts.Transparent == nil {
		return ""
	}
	return r.resolvFile(namespace)
}
