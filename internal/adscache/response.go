package adscache

import (
	"context"
	"strconv"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/halyard-mesh/halyard/internal/xds"
)

// selection is which resources of a type one response carries.
type selection struct {
	t         xds.TypeConfig
	sharedAll bool
	shared    []int // indexes into t.Shared, when not sharedAll
	own       []int // indexes into t.Own
	// first is the smallest name served and digest a digest of all the
	// names served (named subscriptions only).
	first, digest string
}

// selectFor picks what a subscription is served: everything for a
// wildcard subscription, else the subscribed names that exist.
func (c *Cache) selectFor(t xds.TypeConfig, sub cache.Subscription) selection {
	s := selection{t: t}
	var sum, n uint64
	if sub.IsWildcard() {
		s.sharedAll = true
		if t.Own != nil {
			s.own = make([]int, len(t.Own.Items))
			for i := range s.own {
				s.own[i] = i
			}
		}
		return s
	}
	shared := c.encoded.index(t.Shared)
	var own map[string]int
	if t.Own != nil {
		own = c.encoded.index(t.Own)
	}
	for name := range sub.SubscribedResources() {
		if i, ok := shared[name]; ok {
			s.shared = append(s.shared, i)
		} else if i, ok := own[name]; ok {
			s.own = append(s.own, i)
		} else {
			continue
		}
		if s.first == "" || name < s.first {
			s.first = name
		}
		sum += fnv64a(name)
		n++
	}
	if len(s.shared) == len(t.Shared.Items) && len(s.shared) > 0 {
		s.sharedAll, s.shared = true, nil
	}
	s.digest = strconv.FormatUint(n, 16) + "/" + strconv.FormatUint(sum, 16)
	return s
}

// fnv64a is FNV-1a of s (hash/fnv without its allocations, once per name
// of a subscription).
func fnv64a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// newNames says whether the subscription would now be served other names
// than the last response carried (wildcard subscriptions always get all).
//
// A response records what it served as one entry of its "returned
// resources", which the server hands back with the next request: the
// smallest name served, mapped to the digest of all of them. The server
// drops entries whose names are no longer subscribed, so a missing entry
// means the subscription changed too.
func (c *Cache) newNames(t xds.TypeConfig, sub cache.Subscription) bool {
	if sub.IsWildcard() {
		return false
	}
	sel := c.selectFor(t, sub)
	if sel.first == "" {
		return false // nothing to serve
	}
	return sub.ReturnedResources()[sel.first] != sel.digest
}

func (c *Cache) response(req *discovery.DiscoveryRequest, sub cache.Subscription, t xds.TypeConfig) *response {
	sel := c.selectFor(t, sub)
	r := &response{req: req, sel: sel}
	if sel.sharedAll {
		r.blob = c.encoded.blob(t.Shared)
	}
	return r
}

// response is one answer to a watch.
type response struct {
	req  *discovery.DiscoveryRequest
	sel  selection
	blob []byte // the whole shared set's encoded resources, when carried
}

var _ cache.Response = (*response)(nil)

// GetDiscoveryResponse builds the message. The shared set, when carried
// whole, goes in as its pre-encoded `resources` entries (the message's
// unknown fields, which protobuf marshalling writes as they are), so the
// proxy receives an ordinary DiscoveryResponse.
func (r *response) GetDiscoveryResponse() (*discovery.DiscoveryResponse, error) {
	t := r.sel.t
	out := &discovery.DiscoveryResponse{VersionInfo: t.Version, TypeUrl: t.Shared.TypeURL,
		Resources: make([]*anypb.Any, 0, len(r.sel.shared)+len(r.sel.own))}
	for _, i := range r.sel.shared {
		out.Resources = append(out.Resources, &anypb.Any{TypeUrl: t.Shared.TypeURL, Value: t.Shared.Marshaled[i]})
	}
	for _, i := range r.sel.own {
		out.Resources = append(out.Resources, &anypb.Any{TypeUrl: t.Own.TypeURL, Value: t.Own.Marshaled[i]})
	}
	if r.blob != nil {
		out.ProtoReflect().SetUnknown(r.blob)
	}
	return out, nil
}

func (r *response) GetRequest() *discovery.DiscoveryRequest { return r.req }
func (r *response) GetVersion() (string, error)             { return r.sel.t.Version, nil }
func (r *response) GetResponseVersion() string              { return r.sel.t.Version }
func (r *response) GetContext() context.Context             { return context.Background() }

func (r *response) GetReturnedResources() map[string]string {
	if r.sel.first == "" {
		return nil
	}
	return map[string]string{r.sel.first: r.sel.digest}
}
