package xds

import (
	"strings"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// A proxy's scope is what of the mesh it is configured for, as Istio's
// SidecarScope: the services exported to its namespace (a ServiceEntry's
// exportTo, a Kubernetes Service's networking.istio.io/exportTo
// annotation, else the mesh config's defaultServiceExportTo) and, when the Sidecar resource that applies to it lists
// egress hosts, only the services and VirtualServices those hosts name,
// plus the services the selected VirtualServices route or mirror to.
// Outbound listeners, routes, clusters and endpoints are built for the
// scope alone.

// egressHost is one "namespace/dnsName" entry of a Sidecar's egress hosts.
type egressHost struct {
	ns   string // "*" for any namespace, "~" for none, else a namespace
	host string // "*", "*.suffix" or a host name
}

// egressHosts returns the egress hosts of the Sidecar that applies to the
// proxy, "." resolved to the proxy's namespace (the Sidecar's own, or any
// namespace for the root namespace's default); nil when there is no such
// Sidecar or it lists no egress (the whole mesh is in scope).
func (g *generator) egressHosts() []egressHost {
	sc := g.sidecarFor() // transparent.go
	if sc == nil || len(sc.Spec.GetEgress()) == 0 {
		return nil
	}
	var out []egressHost
	for _, l := range sc.Spec.GetEgress() {
		for _, h := range l.GetHosts() {
			ns, host, ok := strings.Cut(h, "/")
			if !ok { // validation refuses it; take it as "*/host"
				ns, host = "*", h
			}
			if ns == "." {
				ns = g.pod.Namespace
			}
			out = append(out, egressHost{ns: ns, host: host})
		}
	}
	if out == nil {
		out = []egressHost{} // egress listeners without hosts: nothing is in scope
	}
	return out
}

// inEgress reports whether an object of namespace ns named host (possibly a
// wildcard) is named by one of the egress hosts.
func inEgress(hosts []egressHost, ns, host string) bool {
	for _, e := range hosts {
		if e.ns == "~" || (e.ns != "*" && e.ns != ns) {
			continue
		}
		if e.host == "*" || e.host == host || HostMatches(e.host, host) {
			return true
		}
	}
	return false
}

// serviceExported applies a service's exportTo to the proxy's namespace.
func (g *generator) serviceExported(svc *registry.Service) bool {
	return exportedTo(orDefault(svc.ExportTo, g.mesh.GetDefaultServiceExportTo()), svc.Namespace, g.pod.Namespace)
}

// scope computes the proxy's services and VirtualServices (g.services,
// g.vss) from the mesh's.
func (g *generator) scope(vss []vsEntry) {
	hosts := g.egressHosts()
	if hosts == nil {
		g.vss = vss
		for _, svc := range g.model.Services {
			if g.serviceExported(svc) {
				g.services = append(g.services, svc)
			}
		}
		return
	}
	var deps map[string]bool // hosts the selected VirtualServices send to
	for _, e := range vss {
		selected := false
		for _, h := range e.hosts {
			if inEgress(hosts, e.vs.Namespace, h) {
				selected = true
				break
			}
		}
		if !selected {
			continue
		}
		g.vss = append(g.vss, e)
		if deps == nil {
			deps = map[string]bool{}
		}
		for _, d := range vsDestinations(e.vs.Spec) {
			deps[ResolveHost(d.GetHost(), e.vs.Namespace, g.suffix)] = true
		}
	}
	for _, svc := range g.model.Services {
		if g.serviceExported(svc) && (deps[svc.Hostname] || inEgress(hosts, svc.Namespace, svc.Hostname)) {
			g.services = append(g.services, svc)
		}
	}
}

// vsDestinations lists every destination of a VirtualService: its HTTP,
// TCP and TLS routes' and its mirrors'.
func vsDestinations(vs *networking.VirtualService) []*networking.Destination {
	var out []*networking.Destination
	for _, r := range vs.GetHttp() {
		for _, d := range r.GetRoute() {
			out = append(out, d.GetDestination())
		}
		if r.GetMirror() != nil {
			out = append(out, r.GetMirror())
		}
		for _, m := range r.GetMirrors() {
			out = append(out, m.GetDestination())
		}
	}
	for _, r := range vs.GetTcp() {
		for _, d := range r.GetRoute() {
			out = append(out, d.GetDestination())
		}
	}
	for _, r := range vs.GetTls() {
		for _, d := range r.GetRoute() {
			out = append(out, d.GetDestination())
		}
	}
	return out
}

// scopeKey is what of a proxy's scope its class key must tell apart: the
// Sidecar with egress hosts that applies to it ("" for none). Exports
// depend on the namespace alone, which every class key has.
func scopeKey(sc *config.Sidecar) string {
	if sc == nil || len(sc.Spec.GetEgress()) == 0 {
		return ""
	}
	return "\x00sidecar:" + sc.Namespace + "/" + sc.Name
}

// scopedByEgress reports whether some Sidecar lists egress hosts, so that
// VirtualServices can change which services proxies are configured for.
func scopedByEgress(in *Input) bool {
	for _, sc := range in.Sidecars {
		if len(sc.Spec.GetEgress()) > 0 {
			return true
		}
	}
	return false
}
