package controlplane

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	xdsserver "github.com/envoyproxy/go-control-plane/pkg/server/v3"
)

// syncTracker records, per proxy, what was pushed, what was ACKed or NACKed,
// and how long proxies took to converge on a pushed version.
type syncTracker struct {
	now     func() time.Time
	metrics *Metrics // set once by New, before any stream

	mu      sync.Mutex
	streams map[int64]string // stream ID -> node ID
	proxies map[string]*ProxyStatus
}

// ProxyStatus is one proxy's sync state, as the admin API shows it.
type ProxyStatus struct {
	ID              string                `json:"id"`
	Connected       bool                  `json:"connected"`
	PushedAt        time.Time             `json:"pushedAt"`
	Types           map[string]*TypeState `json:"types"` // by short type name: LDS, RDS, CDS, EDS
	GenerationError string                `json:"generationError,omitempty"`

	converged bool // the push at PushedAt was fully ACKed and observed
}

// TypeState is one xDS type's state for a proxy.
type TypeState struct {
	Want      string `json:"want"` // the version last set for the proxy
	Sent      string `json:"sent"`
	Acked     string `json:"acked"`
	NackError string `json:"nackError,omitempty"`
	// ConvergedAfter is the time from the push to the ACK of that version.
	ConvergedAfter string `json:"convergedAfter,omitempty"`
}

// Synced reports whether the proxy has ACKed the version last set for it
// of every type.
func (p *ProxyStatus) Synced() bool {
	if !p.Connected || len(p.Types) == 0 {
		return false
	}
	for _, t := range p.Types {
		if t.Want == "" || t.Acked != t.Want {
			return false
		}
	}
	return true
}

func newSyncTracker(now func() time.Time) *syncTracker {
	return &syncTracker{now: now, streams: map[int64]string{}, proxies: map[string]*ProxyStatus{}}
}

func (t *syncTracker) proxy(id string) *ProxyStatus {
	p, ok := t.proxies[id]
	if !ok {
		p = &ProxyStatus{ID: id, Types: map[string]*TypeState{}}
		t.proxies[id] = p
	}
	return p
}

func (t *syncTracker) pushed(id string, versions map[string]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.proxy(id)
	p.PushedAt, p.GenerationError, p.converged = t.now(), "", false
	for typeURL, v := range versions {
		ts := p.typeState(typeURL)
		if ts.Want != v {
			ts.Want, ts.ConvergedAfter = v, ""
		}
	}
}

func (t *syncTracker) generationFailed(id string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.proxy(id).GenerationError = err.Error()
	t.metrics.generationFailed()
}

func (t *syncTracker) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.proxies, id)
}

func (t *syncTracker) request(log *slog.Logger, streamID int64, req *discovery.DiscoveryRequest) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id, ok := t.streams[streamID]
	if !ok {
		if req.GetNode() == nil {
			return
		}
		id = req.GetNode().GetId()
		t.streams[streamID] = id
	}
	p := t.proxy(id)
	p.Connected = true
	ts := p.typeState(req.GetTypeUrl())
	if req.GetResponseNonce() == "" {
		return // an initial subscription, not an answer
	}
	if e := req.GetErrorDetail(); e != nil {
		ts.NackError = e.GetMessage()
		t.metrics.rejected(req.GetTypeUrl())
		log.Warn("proxy rejected config (NACK)", "proxy", id, "type", shortType(req.GetTypeUrl()), "error", e.GetMessage())
		return
	}
	if ts.Acked != req.GetVersionInfo() {
		ts.Acked, ts.NackError = req.GetVersionInfo(), ""
		if ts.Acked == ts.Want && !p.PushedAt.IsZero() {
			ts.ConvergedAfter = t.now().Sub(p.PushedAt).String()
		}
	}
	if !p.converged && !p.PushedAt.IsZero() && p.Synced() {
		p.converged = true
		t.metrics.converged(t.now().Sub(p.PushedAt))
	}
}

func (t *syncTracker) response(streamID int64, resp *discovery.DiscoveryResponse) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.streams[streamID]; ok {
		t.proxy(id).typeState(resp.GetTypeUrl()).Sent = resp.GetVersionInfo()
	}
	t.metrics.pushed(resp.GetTypeUrl())
}

// connected counts the proxies with an open ADS stream.
func (t *syncTracker) connected() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, p := range t.proxies {
		if p.Connected {
			n++
		}
	}
	return float64(n)
}

func (t *syncTracker) closed(streamID int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.streams[streamID]; ok {
		delete(t.streams, streamID)
		if p, ok := t.proxies[id]; ok {
			p.Connected = false
		}
	}
}

func (p *ProxyStatus) typeState(typeURL string) *TypeState {
	k := shortType(typeURL)
	ts, ok := p.Types[k]
	if !ok {
		ts = &TypeState{}
		p.Types[k] = ts
	}
	return ts
}

// snapshot returns a copy of every proxy's status, sorted by ID.
func (t *syncTracker) snapshot() []ProxyStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ProxyStatus, 0, len(t.proxies))
	for _, p := range t.proxies {
		c := *p
		c.Types = map[string]*TypeState{}
		for k, v := range p.Types {
			v := *v
			c.Types[k] = &v
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (t *syncTracker) callbacks(log *slog.Logger) xdsserver.Callbacks {
	return xdsserver.CallbackFuncs{
		StreamRequestFunc: func(id int64, req *discovery.DiscoveryRequest) error {
			t.request(log, id, req)
			return nil
		},
		StreamResponseFunc: func(_ context.Context, id int64, _ *discovery.DiscoveryRequest, resp *discovery.DiscoveryResponse) {
			t.response(id, resp)
		},
		StreamClosedFunc: func(id int64, _ *core.Node) { t.closed(id) },
	}
}

func shortType(typeURL string) string {
	switch typeURL {
	case "type.googleapis.com/envoy.config.listener.v3.Listener":
		return "LDS"
	case "type.googleapis.com/envoy.config.route.v3.RouteConfiguration":
		return "RDS"
	case "type.googleapis.com/envoy.config.cluster.v3.Cluster":
		return "CDS"
	case "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment":
		return "EDS"
	}
	return typeURL
}
