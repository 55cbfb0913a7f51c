package xds

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/halyard-mesh/halyard/internal/registry"
)

// Builder makes the snapshots of every proxy for one Input. Most of a
// proxy's config (outbound listeners, routes, clusters, endpoints) depends
// only on its namespace, and on its labels when some rule selects proxies by
// label; proxies of the same such class share those resources: they are
// generated and hashed once, and every snapshot of the class points at the
// same objects. Only the listeners and clusters at a pod's own addresses are
// built per pod. A Builder is safe for concurrent use.
type Builder struct {
	in            *Input
	labelSelected bool     // some rule selects proxies by label
	dri           *drIndex // DestinationRules by namespace and host

	mu      sync.Mutex
	classes map[string]*sharedClass
}

// sharedClass is the part of the config common to one class of proxies.
type sharedClass struct {
	once sync.Once
	res  map[string]cachev3.Resources // by type URL
	err  error
	// checked is set once one snapshot of the class passed Consistent.
	checked atomic.Bool
}

// snapshotTypes are the types of every snapshot, in a fixed order.
var snapshotTypes = []string{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType}

// NewBuilder returns a Builder for one Input.
func NewBuilder(in *Input) *Builder {
	b := &Builder{in: in, classes: map[string]*sharedClass{}}
	if in != nil {
		b.labelSelected = selectsByLabel(in)
		b.dri = newDRIndex(in.DestinationRules, cmp.Or(in.DomainSuffix, registry.DefaultDomainSuffix))
	}
	return b
}

// Snapshot returns the consistent, versioned snapshot of the pod's proxy.
func (b *Builder) Snapshot(pod *registry.Pod) (*cachev3.Snapshot, error) {
	if b.in == nil || b.in.Model == nil {
		return nil, fmt.Errorf("xds: no registry model")
	}
	class, err := b.shared(pod)
	if err != nil {
		return nil, err
	}
	shared := class.res
	g := newPodGenerator(b.in, pod, b.dri)
	listeners, err := g.podListeners()
	if err != nil {
		return nil, err
	}
	clusters, err := g.podClusters()
	if err != nil {
		return nil, err
	}
	own := map[string][]types.Resource{resource.ListenerType: listeners, resource.ClusterType: clusters}
	snap := &cachev3.Snapshot{}
	for _, typeURL := range snapshotTypes {
		merged, err := merge(shared[typeURL], own[typeURL])
		if err != nil {
			return nil, err
		}
		snap.Resources[cachev3.GetResponseType(typeURL)] = merged
	}
	// Each type keeps its own version (the class's, plus the pod's own
	// resources'), so a change to routes alone re-sends only routes.
	// Consistency is checked once per class: a pod's own resources
	// (inbound listeners with inline routes, STATIC clusters) refer to
	// nothing, unless they do, and then the pod's snapshot is checked too.
	if !class.checked.Load() || refersToOthers(own) {
		if err := snap.Consistent(); err != nil {
			return nil, fmt.Errorf("xds: snapshot of %s/%s is inconsistent: %w", pod.Namespace, pod.Name, err)
		}
		class.checked.Store(true)
	}
	return snap, nil
}

// refersToOthers reports whether any of the resources names a route
// configuration or endpoint assignment.
func refersToOthers(own map[string][]types.Resource) bool {
	for _, items := range own {
		byName := make(map[string]types.ResourceWithTTL, len(items))
		for _, r := range items {
			byName[cachev3.GetResourceName(r)] = types.ResourceWithTTL{Resource: r}
		}
		for _, refs := range cachev3.GetResourceReferences(byName) {
			if len(refs) > 0 {
				return true
			}
		}
	}
	return false
}

// shared returns the pod's class, building its shared resources once.
func (b *Builder) shared(pod *registry.Pod) (*sharedClass, error) {
	key := pod.Namespace
	if b.labelSelected {
		key += "\x00" + canonicalLabels(pod.Labels)
	}
	b.mu.Lock()
	c, ok := b.classes[key]
	if !ok {
		c = &sharedClass{}
		b.classes[key] = c
	}
	b.mu.Unlock()
	c.once.Do(func() { c.res, c.err = b.buildShared(pod) })
	return c, c.err
}

func (b *Builder) buildShared(pod *registry.Pod) (map[string]cachev3.Resources, error) {
	g := newGenerator(b.in, pod, b.dri)
	res := map[string][]types.Resource{
		resource.ListenerType: g.sharedListeners(),
		resource.RouteType:    g.routeConfigs(),
		resource.ClusterType:  g.sharedClusters(),
		resource.EndpointType: g.endpoints(),
	}
	out := make(map[string]cachev3.Resources, len(res))
	for typeURL, items := range res {
		sortByName(items)
		v, err := Version(map[string][]types.Resource{typeURL: items})
		if err != nil {
			return nil, err
		}
		out[typeURL] = cachev3.NewResources(v, items)
	}
	return out, nil
}

// merge adds a pod's own resources to its class's shared ones. The shared
// map is copied, never modified: other snapshots point at it.
func merge(shared cachev3.Resources, own []types.Resource) (cachev3.Resources, error) {
	if len(own) == 0 {
		return shared, nil // nothing of the pod's own: share the map itself
	}
	items := make(map[string]types.ResourceWithTTL, len(shared.Items)+len(own))
	maps.Copy(items, shared.Items)
	version := shared.Version
	if len(own) > 0 {
		sortByName(own)
		v, err := Version(map[string][]types.Resource{"own": own})
		if err != nil {
			return cachev3.Resources{}, err
		}
		version += "+" + v
		for _, r := range own {
			items[cachev3.GetResourceName(r)] = types.ResourceWithTTL{Resource: r}
		}
	}
	return cachev3.Resources{Version: version, Items: items}, nil
}

// Versions returns a snapshot's version of every type, in the order
// listeners, routes, clusters, endpoints.
func Versions(s *cachev3.Snapshot) map[string]string {
	out := make(map[string]string, len(snapshotTypes))
	for _, typeURL := range snapshotTypes {
		out[typeURL] = s.GetVersion(typeURL)
	}
	return out
}

func canonicalLabels(l map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(l)) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(l[k])
		b.WriteByte(0)
	}
	return b.String()
}

// selectsByLabel reports whether any rule's effect depends on the labels of
// the proxy it is sent to: VirtualService matches with sourceLabels, and
// DestinationRules with a workloadSelector.
func selectsByLabel(in *Input) bool {
	if selectsByTelemetry(in.Telemetries) || tracingConfigured(in) {
		return true
	}
	for _, vs := range in.VirtualServices {
		for _, r := range vs.Spec.GetHttp() {
			for _, m := range r.GetMatch() {
				if len(m.GetSourceLabels()) > 0 {
					return true
				}
			}
		}
		for _, r := range vs.Spec.GetTcp() {
			for _, m := range r.GetMatch() {
				if len(m.GetSourceLabels()) > 0 {
					return true
				}
			}
		}
		for _, r := range vs.Spec.GetTls() {
			for _, m := range r.GetMatch() {
				if len(m.GetSourceLabels()) > 0 {
					return true
				}
			}
		}
	}
	for _, dr := range in.DestinationRules {
		if dr.Spec.GetWorkloadSelector() != nil {
			return true
		}
	}
	return false
}
