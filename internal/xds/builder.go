package xds

import (
	"cmp"
	"errors"
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

	// reuse, when set, supplies what a VirtualService cannot change
	// (ReuseUnrouted).
	reuse *reuse
}

// reuse is where a Builder takes the resources a VirtualService does not
// shape: the shared clusters and endpoints of a class from the previous
// build, and each pod's own listeners and clusters from its previous
// config.
type reuse struct {
	prev     *Builder
	previous func(proxyID string) *ProxyConfig
}

// routedTypes are the types a VirtualService shapes: route configurations
// and, through its tcp and tls routes, listeners.
var routedTypes = []string{resource.ListenerType, resource.RouteType}

// ReuseUnrouted makes the builder generate only the resources that
// VirtualServices shape (routedTypes, shared) and take the others from
// prev (the shared clusters and endpoints of each class) and previous (a
// proxy's own listeners and clusters), which is correct only when nothing
// but VirtualServices changed since prev was built from the same pods.
// A class or proxy that prev or previous does not have is built in full.
// Under a Sidecar with egress hosts VirtualServices also decide which
// services are in a proxy's scope (scope.go): then nothing is reused.
func (b *Builder) ReuseUnrouted(prev *Builder, previous func(proxyID string) *ProxyConfig) {
	if prev != nil && !scopedByEgress(b.in) {
		b.reuse = &reuse{prev: prev, previous: previous}
	}
}

// sharedClass is the part of the config common to one class of proxies.
type sharedClass struct {
	once sync.Once
	res  map[string]*ResourceSet // by type URL
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
	c, err := b.Config(pod)
	if err != nil {
		return nil, err
	}
	return c.Snapshot(), nil
}

// Config returns the consistent, versioned configuration of the pod's
// proxy: its class's shared resource sets and its own resources.
func (b *Builder) Config(pod *registry.Pod) (*ProxyConfig, error) {
	if b.in == nil || b.in.Model == nil {
		return nil, fmt.Errorf("xds: no registry model")
	}
	class, err := b.shared(pod)
	if err != nil {
		return nil, err
	}
	own, err := b.ownSets(pod)
	if err != nil {
		return nil, err
	}
	cfg := &ProxyConfig{Types: make(map[string]TypeConfig, len(snapshotTypes))}
	for _, typeURL := range snapshotTypes {
		// Each type keeps its own version (the class's, plus the pod's own
		// resources'), so a change to routes alone re-sends only routes.
		t := TypeConfig{Version: class.res[typeURL].Version, Shared: class.res[typeURL], Own: own[typeURL]}
		if t.Own != nil {
			t.Version += "+" + t.Own.Version
		}
		cfg.Types[typeURL] = t
	}
	// Consistency is checked once per class: a pod's own resources
	// (inbound listeners with inline routes, STATIC clusters) refer to
	// nothing, unless they do, and then the pod's config is checked too.
	if !class.checked.Load() || refersToOthers(own) {
		if err := checkConsistent(cfg); err != nil {
			return nil, fmt.Errorf("xds: snapshot of %s/%s is inconsistent: %w", pod.Namespace, pod.Name, err)
		}
		class.checked.Store(true)
	}
	return cfg, nil
}

// checkConsistent checks that every route configuration a listener names
// and every endpoint assignment an EDS cluster names is present, and
// nothing else; duplicate names between shared and own resources are an
// error too.
func checkConsistent(cfg *ProxyConfig) error {
	for typeURL, t := range cfg.Types {
		if t.Own != nil && len(cfg.Resources(typeURL)) != t.Len() {
			return fmt.Errorf("%s: a pod's own resource has the name of a shared one", typeURL)
		}
	}
	return cfg.Snapshot().Consistent()
}

// ownSets are the pod's own resources (the listeners and clusters at its
// addresses) by type: its previous ones under ReuseUnrouted, else built.
func (b *Builder) ownSets(pod *registry.Pod) (map[string]*ResourceSet, error) {
	own := map[string]*ResourceSet{}
	if b.reuse != nil && b.reuse.previous != nil {
		if pc := b.reuse.previous(pod.ProxyID); pc != nil {
			for _, typeURL := range []string{resource.ListenerType, resource.ClusterType} {
				if s := pc.Types[typeURL].Own; s != nil {
					own[typeURL] = s
				}
			}
			return own, nil
		}
	}
	g := newPodGenerator(b.in, pod, b.dri)
	listeners, err := g.podListeners()
	if err != nil {
		return nil, err
	}
	clusters, err := g.podClusters()
	if err != nil {
		return nil, err
	}
	for typeURL, items := range map[string][]types.Resource{resource.ListenerType: listeners, resource.ClusterType: clusters} {
		if len(items) == 0 {
			continue
		}
		if own[typeURL], err = NewResourceSet(typeURL, items); err != nil {
			return nil, err
		}
	}
	return own, nil
}

// refersToOthers reports whether any of the resources names a route
// configuration or endpoint assignment.
func refersToOthers(own map[string]*ResourceSet) bool {
	for _, set := range own {
		items := set.Items
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
	key += classKey(b.in, b.dri, pod)
	b.mu.Lock()
	c, ok := b.classes[key]
	if !ok {
		c = &sharedClass{}
		b.classes[key] = c
	}
	b.mu.Unlock()
	c.once.Do(func() { c.res, c.err = b.buildShared(key, pod) })
	return c, c.err
}

func (b *Builder) buildShared(key string, pod *registry.Pod) (map[string]*ResourceSet, error) {
	g := newGenerator(b.in, pod, b.dri)
	out := make(map[string]*ResourceSet, len(snapshotTypes))
	build := map[string]func() []types.Resource{
		resource.ListenerType: g.sharedListeners,
		resource.RouteType:    g.routeConfigs,
		resource.ClusterType:  g.sharedClusters,
		resource.EndpointType: g.endpoints,
	}
	if prev := b.reusedClass(key); prev != nil {
		for typeURL := range build {
			if !slices.Contains(routedTypes, typeURL) {
				out[typeURL] = prev[typeURL]
				delete(build, typeURL)
			}
		}
	}
	res := make(map[string][]types.Resource, len(build))
	for typeURL, f := range build {
		res[typeURL] = f()
	}
	for typeURL, items := range res {
		set, err := NewResourceSet(typeURL, items)
		if err != nil {
			return nil, err
		}
		out[typeURL] = set
	}
	return out, nil
}

// reusedClass is the previous build's shared sets of a class, when the
// builder reuses them and that build has the class.
func (b *Builder) reusedClass(key string) map[string]*ResourceSet {
	if b.reuse == nil {
		return nil
	}
	prev := b.reuse.prev
	prev.mu.Lock()
	c := prev.classes[key]
	prev.mu.Unlock()
	if c == nil {
		return nil
	}
	c.once.Do(func() { c.err = errors.New("xds: class not built") })
	if c.err != nil || c.res == nil {
		return nil
	}
	return c.res
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
