// Package sidecar wires the data plane together: the xDS client feeds
// resource sets to the Proxy, which compiles them and installs the result in
// the listener manager, the route tables and the cluster manager.
package sidecar

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/halyard-mesh/halyard/internal/proxy/accesslog"
	"github.com/halyard-mesh/halyard/internal/proxy/admin"
	"github.com/halyard-mesh/halyard/internal/proxy/compile"
	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/listener"
	"github.com/halyard-mesh/halyard/internal/proxy/router"
	"github.com/halyard-mesh/halyard/internal/proxy/stats"
	"github.com/halyard-mesh/halyard/internal/proxy/tracing"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
	"github.com/halyard-mesh/halyard/internal/proxy/xdsclient"
)

// Options configures a Proxy.
type Options struct {
	Node *corev3.Node
	// XDS is the connection to the ADS server.
	XDS grpc.ClientConnInterface
	Log *slog.Logger
	// DrainTimeout bounds the draining of removed listeners and of all
	// listeners at shutdown (default 5s).
	DrainTimeout time.Duration
	// Now is the clock of request timing; time.Now when nil.
	Now func() time.Time
	// OnRequest, when set, is called after every request (access log,
	// metrics).
	OnRequest func(*hcm.RequestInfo)
	// Listen binds listener sockets; net.Listen when nil.
	Listen func(network, address string) (net.Listener, error)
	// NackBackoffBase is passed to the xDS client (tests shorten it).
	NackBackoffBase time.Duration
	// DebugHeaders says when responses carry x-halyard-reason (default:
	// when the request has x-halyard-debug: 1).
	DebugHeaders hcm.DebugHeaders
	// Metrics interns the listeners' metric overrides (the registry
	// OnRequest and TCPStats count in).
	Metrics *stats.Registry
	// AccessLogs are where the listeners' access logs write; none are
	// written when nil.
	AccessLogs *accesslog.Sinks
	// TCPStats, when set, counts tcp_proxy connections.
	TCPStats listener.TCPStats
	// Secrets is the workload identity that the SDS secrets "default" and
	// "ROOTCA" of transport sockets resolve to; nil: none (mutual TLS is
	// then off: clusters dial plaintext, TLS listeners are refused).
	Secrets compile.Secrets
	// PeerMetadata and PeerID are sent on outbound requests in the peer
	// metadata headers (hcm.PeerMetadataHeader); none when empty.
	PeerMetadata, PeerID string
}

// Proxy is one sidecar proxy.
type Proxy struct {
	opts      Options
	log       *slog.Logger
	upstreams *upstream.Manager
	listeners *listener.Manager
	client    *xdsclient.Client
	routes    atomic.Pointer[map[string]*router.Table]
	tracing   *tracing.Exporters

	mu         sync.Mutex
	resources  map[string]*resourceSet // by type URL
	routeNames []string
	edsNames   []string
	ready      chan struct{}
	isReady    atomic.Bool
}

type resourceSet struct {
	version string
	applied bool
	// items are the applied resources in wire form, compressed, for
	// /config_dump: a decoded resource takes several times the memory.
	items     packed
	rejected  string // version of the last NACKed response
	lastError string
}

var (
	_ xdsclient.Consumer = (*Proxy)(nil)
	_ hcm.RouteSource    = (*Proxy)(nil)
	_ admin.Source       = (*Proxy)(nil)
)

// New returns a Proxy; Run starts it.
func New(opts Options) *Proxy {
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 5 * time.Second
	}
	p := &Proxy{
		opts:      opts,
		log:       opts.Log,
		upstreams: upstream.NewManager(opts.Log),
		resources: make(map[string]*resourceSet),
		ready:     make(chan struct{}),
	}
	p.tracing = tracing.NewExporters(clusterDialer{p.upstreams}, opts.Node.GetId(), opts.Log)
	empty := map[string]*router.Table{}
	p.routes.Store(&empty)
	h := hcm.NewServer(hcm.Options{Routes: p, Clusters: p.upstreams, Log: opts.Log, Now: opts.Now, OnDone: opts.OnRequest,
		DebugHeaders: opts.DebugHeaders, PeerMetadata: opts.PeerMetadata, PeerID: opts.PeerID})
	p.listeners = listener.NewManager(listener.Options{
		HCM: h, Clusters: p.upstreams, Log: opts.Log, DrainTimeout: opts.DrainTimeout, Listen: opts.Listen,
		TCPStats: opts.TCPStats,
	})
	p.client = xdsclient.New(opts.XDS, xdsclient.Options{
		Node: opts.Node, Consumer: p, Log: opts.Log, NackBackoffBase: opts.NackBackoffBase,
	})
	return p
}

// Run runs the xDS client until ctx is done, then drains the listeners.
func (p *Proxy) Run(ctx context.Context) error {
	err := p.client.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), p.opts.DrainTimeout+time.Second)
	defer cancel()
	if serr := p.listeners.Shutdown(sctx); serr != nil && err == nil {
		err = fmt.Errorf("sidecar: shutdown: %w", serr)
	}
	p.tracing.Close()
	p.upstreams.Close()
	return err
}

// clusterDialer connects span exports to a collector through the proxy's
// own clusters.
type clusterDialer struct{ m *upstream.Manager }

func (d clusterDialer) DialCluster(ctx context.Context, name string) (net.Conn, error) {
	c := d.m.Get(name)
	if c == nil {
		return nil, fmt.Errorf("sidecar: tracing: cluster %q not found", name)
	}
	conn, _, err := c.DialTCP(ctx, &upstream.PickRequest{})
	return conn, err
}

// RouteTable returns the RDS route table of that name, or nil.
func (p *Proxy) RouteTable(name string) *router.Table {
	return (*p.routes.Load())[name]
}

// ListenerAddr returns the bound address of a listener, or nil.
func (p *Proxy) ListenerAddr(name string) net.Addr { return p.listeners.Addr(name) }

// Ready reports whether the first configuration is fully applied.
func (p *Proxy) Ready() bool { return p.isReady.Load() }

// ReadyC is closed once the proxy is ready.
func (p *Proxy) ReadyC() <-chan struct{} { return p.ready }

// ResourceNames implements xdsclient.Consumer.
func (p *Proxy) ResourceNames(typeURL string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch typeURL {
	case xdsclient.RouteType:
		return slices.Clone(p.routeNames)
	case xdsclient.EndpointType:
		return slices.Clone(p.edsNames)
	}
	return nil
}

// Apply implements xdsclient.Consumer: it compiles one resource set and
// installs it, or returns the error that NACKs it. The resources are kept
// as received, compressed, for the config dump.
func (p *Proxy) Apply(typeURL, version string, resources []*anypb.Any) error {
	err := p.apply(typeURL, resources)
	var items packed
	if err == nil {
		if items, err = pack(resources); err != nil {
			err = fmt.Errorf("sidecar: keep %s: %w", typeURL, err)
		}
	}
	p.mu.Lock()
	rs := p.resources[typeURL]
	if rs == nil {
		rs = &resourceSet{}
		p.resources[typeURL] = rs
	}
	if err != nil {
		rs.rejected, rs.lastError = version, err.Error()
	} else {
		rs.version, rs.items, rs.applied = version, items, true
	}
	p.mu.Unlock()
	if err == nil {
		p.checkReady()
	}
	return err
}

func (p *Proxy) apply(typeURL string, resources []*anypb.Any) error {
	switch typeURL {
	case xdsclient.ListenerType:
		cfgs, routeNames, err := compile.ListenersFrom(decoded[*listenerv3.Listener](typeURL, resources), compile.Telemetry{AccessLogs: p.opts.AccessLogs, Tracing: p.tracing, Metrics: p.opts.Metrics, Secrets: p.opts.Secrets})
		if err != nil {
			return err
		}
		if err := p.listeners.Update(cfgs); err != nil {
			return err
		}
		p.mu.Lock()
		p.routeNames = routeNames
		p.mu.Unlock()
	case xdsclient.RouteType:
		tables, err := compile.RoutesFrom(decoded[*routev3.RouteConfiguration](typeURL, resources))
		if err != nil {
			return err
		}
		p.routes.Store(&tables)
	case xdsclient.ClusterType:
		cfgs, edsNames, err := compile.ClustersFrom(decoded[*clusterv3.Cluster](typeURL, resources), p.opts.Secrets)
		if err != nil {
			return err
		}
		if err := p.upstreams.UpdateClusters(cfgs); err != nil {
			return err
		}
		p.mu.Lock()
		p.edsNames = edsNames
		p.mu.Unlock()
	case xdsclient.EndpointType:
		eps, err := compile.EndpointsFrom(decoded[*endpointv3.ClusterLoadAssignment](typeURL, resources))
		if err != nil {
			return err
		}
		p.upstreams.UpdateEndpoints(eps)
	default:
		return fmt.Errorf("sidecar: unsupported resource type %s", typeURL)
	}
	return nil
}

// decoded yields the resources decoded one at a time, so that only the
// resource being compiled exists as a message: a proxy's config of a large
// mesh is compiled without holding all of it decoded at once.
func decoded[T proto.Message](typeURL string, resources []*anypb.Any) compile.Seq[T] {
	return func(yield func(T) error) error {
		for i, a := range resources {
			m, err := xdsclient.DecodeResource(typeURL, a)
			if err != nil {
				return fmt.Errorf("resource %d: %w", i, err)
			}
			t, ok := m.(T)
			if !ok {
				return fmt.Errorf("sidecar: resource %d of %s: unexpected %T", i, typeURL, m)
			}
			if err := yield(t); err != nil {
				return err
			}
		}
		return nil
	}
}

// checkReady marks the proxy ready once LDS and CDS were applied, every
// route configuration the listeners name has arrived and every EDS cluster
// has had its endpoints.
func (p *Proxy) checkReady() {
	if p.isReady.Load() {
		return
	}
	p.mu.Lock()
	lds, cds := p.resources[xdsclient.ListenerType], p.resources[xdsclient.ClusterType]
	ok := lds != nil && lds.applied && cds != nil && cds.applied
	routeNames, edsNames := p.routeNames, p.edsNames
	p.mu.Unlock()
	if !ok {
		return
	}
	routes := *p.routes.Load()
	for _, n := range routeNames {
		if routes[n] == nil {
			return
		}
	}
	for _, n := range edsNames {
		if !p.upstreams.HasAssignment(n) {
			return
		}
	}
	if p.isReady.CompareAndSwap(false, true) {
		close(p.ready)
		p.log.Info("proxy ready", "listeners", p.listeners.Bound())
	}
}

// ConfigDump writes the current resources of every type as JSON.
func (p *Proxy) ConfigDump(w io.Writer) error {
	type typeDump struct {
		TypeURL         string            `json:"type_url"`
		VersionInfo     string            `json:"version_info"`
		Resources       []json.RawMessage `json:"resources"`
		RejectedVersion string            `json:"rejected_version,omitempty"`
		LastError       string            `json:"last_error,omitempty"`
	}
	dump := struct {
		Node      string            `json:"node"`
		Ready     bool              `json:"ready"`
		Listeners map[string]string `json:"bound_listeners"`
		Configs   []typeDump        `json:"configs"`
	}{Node: p.opts.Node.GetId(), Ready: p.Ready(), Listeners: p.listeners.Bound()}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range []string{xdsclient.ListenerType, xdsclient.RouteType, xdsclient.ClusterType, xdsclient.EndpointType} {
		td := typeDump{TypeURL: t, Resources: []json.RawMessage{}}
		if rs := p.resources[t]; rs != nil {
			td.VersionInfo, td.RejectedVersion, td.LastError = rs.version, rs.rejected, rs.lastError
			err := rs.items.each(t, func(a *anypb.Any) error {
				m, err := a.UnmarshalNew()
				if err != nil {
					return fmt.Errorf("sidecar: config dump: %w", err)
				}
				b, err := dumpJSON.Marshal(m)
				if err != nil {
					return fmt.Errorf("sidecar: config dump: %w", err)
				}
				td.Resources = append(td.Resources, b)
				return nil
			})
			if err != nil {
				return err
			}
		}
		dump.Configs = append(dump.Configs, td)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(dump)
}
