package xds

import (
	"slices"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// vsEntry is a VirtualService that applies to sidecars, with its hosts
// resolved in its namespace.
type vsEntry struct {
	vs    *config.VirtualService
	hosts []string
}

// meshVirtualServices keeps the VirtualServices a sidecar in proxyNamespace
// sees: `gateways` empty or naming "mesh", exported to the namespace.
// They are ordered by namespace/name, the stand-in for Istio's creation
// time order ("oldest first").
func meshVirtualServices(all []config.VirtualService, proxyNamespace, suffix string, defaultExportTo []string) []vsEntry {
	var out []vsEntry
	for i := range all {
		vs := &all[i]
		if vs.Spec == nil || !appliesToMesh(vs.Spec.Gateways) || !exportedTo(orDefault(vs.Spec.ExportTo, defaultExportTo), vs.Namespace, proxyNamespace) {
			continue
		}
		e := vsEntry{vs: vs}
		for _, h := range vs.Spec.Hosts {
			e.hosts = append(e.hosts, ResolveHost(h, vs.Namespace, suffix))
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b vsEntry) int { return compareMeta(a.vs.Meta, b.vs.Meta) })
	return out
}

func appliesToMesh(gateways []string) bool {
	return len(gateways) == 0 || slices.Contains(gateways, MeshGateway)
}

// orDefault is an object's exportTo, or the mesh config's default for its
// kind when it sets none.
func orDefault(exportTo, meshDefault []string) []string {
	if len(exportTo) == 0 {
		return meshDefault
	}
	return exportTo
}

// exportedTo applies Istio's exportTo: empty or "*" is everyone, "." is the
// object's own namespace, other entries name namespaces ("~" is nobody).
func exportedTo(exportTo []string, ns, proxyNamespace string) bool {
	if len(exportTo) == 0 || slices.Contains(exportTo, "*") || slices.Contains(exportTo, proxyNamespace) {
		return true
	}
	return ns == proxyNamespace && slices.Contains(exportTo, ".")
}

// virtualServiceFor picks the VirtualService that routes a hostname for
// sidecars. Istio does not merge VirtualServices for sidecars: the one
// with the most specific host wins (an exact host over a wildcard, a longer
// wildcard over a shorter), and among equals the first by namespace/name.
func (g *generator) virtualServiceFor(hostname string) *config.VirtualService {
	var best *config.VirtualService
	bestScore := -1
	for _, e := range g.vss {
		for _, h := range e.hosts {
			if s := hostSpecificity(h, hostname); s > bestScore {
				best, bestScore = e.vs, s
			}
		}
	}
	return best
}

// destRule is the DestinationRule configuration that applies to one host
// for this proxy: possibly merged from several rules of one namespace.
type destRule struct {
	policy  *networking.TrafficPolicy
	subsets []*networking.Subset
}

// destinationRuleFor finds the DestinationRule for a service as Istio does
// for sidecars: the proxy's own namespace first, then the service's
// namespace, then the root namespace; in each, the most specific host wins
// (exact over wildcard). Several rules for that same host in one namespace
// are merged like Istio does: subsets are concatenated (a repeated subset
// name keeps the first), the first top-level traffic policy wins. A rule in
// any other namespace does not apply.
func (g *generator) destinationRuleFor(svc *registry.Service) *destRule {
	for _, ns := range []string{g.pod.Namespace, svc.Namespace, g.root} {
		if dr := g.destinationRuleIn(ns, svc.Hostname); dr != nil {
			return dr
		}
	}
	return nil
}

func (g *generator) destinationRuleIn(ns, hostname string) *destRule {
	matched := g.dri.lookup(ns, hostname, g.drVisible)
	if len(matched) == 0 {
		return nil
	}
	return mergeDestinationRules(matched)
}

// drVisible reports whether a DestinationRule may apply to this proxy:
// exported to its namespace and, with a workloadSelector, selecting it.
func (g *generator) drVisible(dr *config.DestinationRule) bool {
	if dr.Spec == nil {
		return false
	}
	if sel := dr.Spec.GetWorkloadSelector(); sel != nil {
		return dr.Namespace == g.pod.Namespace && labelsMatch(sel.MatchLabels, g.pod.Labels)
	}
	return dr.Namespace == g.pod.Namespace || exportedTo(orDefault(dr.Spec.ExportTo, g.mesh.GetDefaultDestinationRuleExportTo()), dr.Namespace, g.pod.Namespace)
}

func mergeDestinationRules(rules []*networking.DestinationRule) *destRule {
	out := &destRule{}
	seen := map[string]bool{}
	for _, r := range rules {
		if out.policy == nil {
			out.policy = r.TrafficPolicy
		}
		for _, s := range r.Subsets {
			if s == nil || seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			out.subsets = append(out.subsets, s)
		}
	}
	return out
}

// labelsMatch reports whether every selector label is set to the same value
// in labels (an empty selector matches everything).
func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
