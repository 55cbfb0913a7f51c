package xds

import (
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
)

// ResourceSet is an immutable, versioned list of resources of one type,
// sorted by name, with each resource's deterministic marshalling. The
// resources a class of proxies shares are one ResourceSet, pointed at by
// every proxy of the class, so a server can encode it once for all of them.
type ResourceSet struct {
	TypeURL string
	Version string
	Items   []types.Resource
	Names   []string
	// Marshaled[i] is the deterministic marshalling of Items[i].
	Marshaled [][]byte
}

// NewResourceSet sorts items by name, marshals them and versions the set
// with a hash of its content.
func NewResourceSet(typeURL string, items []types.Resource) (*ResourceSet, error) {
	sortByName(items)
	s := &ResourceSet{TypeURL: typeURL, Items: items,
		Names: make([]string, len(items)), Marshaled: make([][]byte, len(items))}
	if err := marshalAll(typeURL, s); err != nil {
		return nil, err
	}
	h := newVersionHash(typeURL)
	for i := range items {
		h.add(s.Names[i], s.Marshaled[i])
	}
	s.Version = h.sum()
	return s, nil
}

// marshalChunk is how many resources one goroutine marshals: a mesh's
// thousands of clusters are marshalled on every core, a pod's few on the
// caller's goroutine.
const marshalChunk = 256

// marshalAll fills in the set's names and deterministic encodings.
func marshalAll(typeURL string, s *ResourceSet) error {
	one := func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			s.Names[i] = cachev3.GetResourceName(s.Items[i])
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(s.Items[i])
			if err != nil {
				return fmt.Errorf("xds: marshal %s %q: %w", typeURL, s.Names[i], err)
			}
			s.Marshaled[i] = b
		}
		return nil
	}
	n := len(s.Items)
	if n <= marshalChunk {
		return one(0, n)
	}
	errs := make([]error, (n+marshalChunk-1)/marshalChunk)
	var wg sync.WaitGroup
	for c := range errs {
		wg.Go(func() { errs[c] = one(c*marshalChunk, min(n, (c+1)*marshalChunk)) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// TypeConfig is what one proxy gets of one type: its class's shared set
// and the pod's own resources (inbound listeners, STATIC clusters), which
// never share a name with the shared ones.
type TypeConfig struct {
	// Version changes whenever Shared or Own does.
	Version string
	Shared  *ResourceSet // never nil
	Own     *ResourceSet // nil when the pod has none of its own
}

// Len is the number of resources.
func (t TypeConfig) Len() int {
	n := len(t.Shared.Items)
	if t.Own != nil {
		n += len(t.Own.Items)
	}
	return n
}

// ProxyConfig is one proxy's complete configuration: listeners, routes,
// clusters and endpoints, by type URL.
type ProxyConfig struct {
	Types map[string]TypeConfig
}

// Versions returns the version of every type, by type URL.
func (c *ProxyConfig) Versions() map[string]string {
	out := make(map[string]string, len(c.Types))
	for typeURL, t := range c.Types {
		out[typeURL] = t.Version
	}
	return out
}

// Snapshot returns the configuration as a go-control-plane snapshot (one
// map per type; for tests and tools, the server does not need it).
func (c *ProxyConfig) Snapshot() *cachev3.Snapshot {
	snap := &cachev3.Snapshot{}
	for typeURL, t := range c.Types {
		items := make(map[string]types.ResourceWithTTL, t.Len())
		add := func(s *ResourceSet) {
			for i, r := range s.Items {
				items[s.Names[i]] = types.ResourceWithTTL{Resource: r}
			}
		}
		add(t.Shared)
		if t.Own != nil {
			add(t.Own)
		}
		snap.Resources[cachev3.GetResponseType(typeURL)] = cachev3.Resources{Version: t.Version, Items: items}
	}
	return snap
}

// Resources returns every resource of the type by name.
func (c *ProxyConfig) Resources(typeURL string) map[string]types.Resource {
	t, ok := c.Types[typeURL]
	if !ok {
		return nil
	}
	out := make(map[string]types.Resource, t.Len())
	for _, s := range []*ResourceSet{t.Shared, t.Own} {
		if s != nil {
			maps.Insert(out, func(yield func(string, types.Resource) bool) {
				for i, r := range s.Items {
					if !yield(s.Names[i], r) {
						return
					}
				}
			})
		}
	}
	return out
}
