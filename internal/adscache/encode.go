package adscache

import (
	"sync"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/halyard-mesh/halyard/internal/xds"
)

// encodings caches, per resource set, its encoded `resources` entries and
// its name index. Sets are immutable, so a pointer identifies the content.
type encodings struct {
	mu    sync.Mutex
	blobs map[*xds.ResourceSet]*encoded
}

type encoded struct {
	once  sync.Once
	blob  []byte
	index map[string]int
	iOnce sync.Once
}

func newEncodings() *encodings { return &encodings{blobs: map[*xds.ResourceSet]*encoded{}} }

func (e *encodings) reset() {
	e.mu.Lock()
	e.blobs = map[*xds.ResourceSet]*encoded{}
	e.mu.Unlock()
}

func (e *encodings) entry(s *xds.ResourceSet) *encoded {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.blobs[s]
	if !ok {
		x = &encoded{}
		e.blobs[s] = x
	}
	return x
}

// discoveryResponseResources is the field number of
// DiscoveryResponse.resources (repeated google.protobuf.Any).
const discoveryResponseResources = 2

// blob returns the set's resources as DiscoveryResponse `resources`
// entries: for each, the field's tag and length, then an Any with the type
// URL (field 1) and the resource's marshalling (field 2).
func (e *encodings) blob(s *xds.ResourceSet) []byte {
	x := e.entry(s)
	x.once.Do(func() { x.blob = encodeResources(s) })
	return x.blob
}

func encodeResources(s *xds.ResourceSet) []byte {
	anySize := func(v []byte) int {
		return protowire.SizeTag(1) + protowire.SizeBytes(len(s.TypeURL)) + protowire.SizeTag(2) + protowire.SizeBytes(len(v))
	}
	total := 0
	for _, v := range s.Marshaled {
		total += protowire.SizeTag(discoveryResponseResources) + protowire.SizeBytes(anySize(v))
	}
	b := make([]byte, 0, total)
	for _, v := range s.Marshaled {
		b = protowire.AppendTag(b, discoveryResponseResources, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(anySize(v)))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, s.TypeURL)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, v)
	}
	return b
}

// index returns the set's position of every name.
func (e *encodings) index(s *xds.ResourceSet) map[string]int {
	x := e.entry(s)
	x.iOnce.Do(func() {
		x.index = make(map[string]int, len(s.Names))
		for i, n := range s.Names {
			x.index[n] = i
		}
	})
	return x.index
}
