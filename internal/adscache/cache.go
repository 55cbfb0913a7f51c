// Package adscache answers go-control-plane's state-of-the-world ADS server
// from per-proxy configurations (xds.ProxyConfig). It is the server's
// cache.Cache: the server asks it for a watch on every request, and it
// responds when the proxy's version of the type differs from the one the
// request acknowledges.
//
// Proxies of one class point at the same shared resource sets; a set is
// encoded into its wire form once, and every response that carries the
// whole set appends those bytes instead of marshalling thousands of
// resources again for every proxy.
package adscache

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"

	"github.com/halyard-mesh/halyard/internal/xds"
)

// Cache holds the current configuration of every proxy, by node ID, and the
// open watches. It is safe for concurrent use.
type Cache struct {
	log     *slog.Logger
	encoded *encodings

	mu     sync.Mutex
	nodes  map[string]*node
	nextID int64
}

var _ cache.Cache = (*Cache)(nil)

type node struct {
	cfg     *xds.ProxyConfig
	watches map[int64]*watch
}

type watch struct {
	req *discovery.DiscoveryRequest
	sub cache.Subscription
	out chan cache.Response
	// rejected is the version the proxy NACKed: it is not sent again.
	rejected string
}

// New returns an empty cache.
func New(log *slog.Logger) *Cache {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Cache{log: log, encoded: newEncodings(), nodes: map[string]*node{}}
}

// NewGeneration drops the encoded forms of earlier resource sets. Call it
// before setting the configurations of a new push.
func (c *Cache) NewGeneration() { c.encoded.reset() }

// SetConfig makes cfg the configuration of the proxy and answers its open
// watches whose type changed.
func (c *Cache) SetConfig(nodeID string, cfg *xds.ProxyConfig) {
	var ready []pending
	c.mu.Lock()
	n := c.node(nodeID)
	n.cfg = cfg
	for id, w := range n.watches {
		t, ok := cfg.Types[w.req.GetTypeUrl()]
		if !ok || t.Version == w.req.GetVersionInfo() || t.Version == w.rejected {
			continue
		}
		ready = append(ready, pending{w.out, c.response(w.req, w.sub, t)})
		delete(n.watches, id)
	}
	c.mu.Unlock()
	send(ready)
}

// Clear forgets the proxy's configuration; its open watches stay open.
func (c *Cache) Clear(nodeID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.nodes[nodeID]; ok {
		n.cfg = nil
		if len(n.watches) == 0 {
			delete(c.nodes, nodeID)
		}
	}
}

// CreateWatch answers the request at once when the proxy's configuration
// of the type is newer than what the request acknowledges (or names
// resources it has not been sent); otherwise it keeps the watch open until
// SetConfig changes the type. A NACKed version is not sent again.
func (c *Cache) CreateWatch(req *cache.Request, sub cache.Subscription, out chan cache.Response) (func(), error) {
	nodeID := req.GetNode().GetId()
	w := &watch{req: req, sub: sub, out: out}
	c.mu.Lock()
	n := c.node(nodeID)
	if n.cfg != nil {
		if t, ok := n.cfg.Types[req.GetTypeUrl()]; ok {
			switch {
			case req.GetErrorDetail() != nil:
				w.rejected = t.Version
			case t.Version != req.GetVersionInfo() || c.newNames(t, sub):
				resp := c.response(req, sub, t)
				c.mu.Unlock()
				send([]pending{{out, resp}})
				return func() {}, nil
			}
		}
	}
	c.nextID++
	id := c.nextID
	n.watches[id] = w
	c.mu.Unlock()
	return func() { c.cancel(nodeID, id) }, nil
}

func (c *Cache) cancel(nodeID string, id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.nodes[nodeID]; ok {
		delete(n.watches, id)
		if n.cfg == nil && len(n.watches) == 0 {
			delete(c.nodes, nodeID)
		}
	}
}

// CreateDeltaWatch refuses incremental xDS.
func (c *Cache) CreateDeltaWatch(*cache.DeltaRequest, cache.Subscription, chan cache.DeltaResponse) (func(), error) {
	return nil, errors.New("adscache: incremental (delta) xDS is not supported; use state-of-the-world ADS")
}

// Fetch refuses REST polling.
func (c *Cache) Fetch(context.Context, *cache.Request) (cache.Response, error) {
	return nil, errors.New("adscache: REST xDS is not supported; use ADS")
}

// node returns the node's entry, creating it. c.mu is held.
func (c *Cache) node(id string) *node {
	n, ok := c.nodes[id]
	if !ok {
		n = &node{watches: map[int64]*watch{}}
		c.nodes[id] = n
	}
	return n
}

type pending struct {
	out  chan cache.Response
	resp cache.Response
}

// send delivers responses outside the lock. The server's channel has room
// for one response per type and it keeps one watch per type, so a send
// does not wait for long.
func send(ready []pending) {
	for _, p := range ready {
		p.out <- p.resp
	}
}
