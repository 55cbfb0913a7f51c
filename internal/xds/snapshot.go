package xds

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"maps"
	"slices"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
)

// NewSnapshot builds a go-control-plane snapshot from Generate's output,
// checks that it is consistent (every route configuration a listener names
// and every endpoint assignment an EDS cluster names is present, and
// nothing else), and versions it with a hash of its content: identical
// resources give identical versions.
func NewSnapshot(res map[string][]types.Resource) (*cachev3.Snapshot, error) {
	version, err := Version(res)
	if err != nil {
		return nil, err
	}
	snap, err := cachev3.NewSnapshot(version, res)
	if err != nil {
		return nil, fmt.Errorf("xds: snapshot: %w", err)
	}
	if err := snap.Consistent(); err != nil {
		return nil, fmt.Errorf("xds: snapshot %s is inconsistent: %w", version, err)
	}
	return snap, nil
}

// Version hashes the deterministic marshalling of all resources, by type
// URL and then by name, so the order of the input does not matter.
func Version(res map[string][]types.Resource) (string, error) {
	h := sha256.New()
	for _, typeURL := range slices.Sorted(maps.Keys(res)) {
		writeField(h, []byte(typeURL))
		items := slices.Clone(res[typeURL])
		sortByName(items)
		for _, r := range items {
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
			if err != nil {
				return "", fmt.Errorf("xds: marshal %s %q: %w", typeURL, cachev3.GetResourceName(r), err)
			}
			writeField(h, []byte(cachev3.GetResourceName(r)))
			writeField(h, b)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// versionHash computes Version for one type incrementally, from resources
// already sorted by name and marshalled.
type versionHash struct{ h hash.Hash }

func newVersionHash(typeURL string) versionHash {
	h := sha256.New()
	writeField(h, []byte(typeURL))
	return versionHash{h}
}

func (v versionHash) add(name string, marshaled []byte) {
	writeField(v.h, []byte(name))
	writeField(v.h, marshaled)
}

func (v versionHash) sum() string { return hex.EncodeToString(v.h.Sum(nil)[:16]) }

// writeField writes a length-prefixed field, so that field boundaries
// cannot shift between different contents with the same bytes.
func writeField(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}
