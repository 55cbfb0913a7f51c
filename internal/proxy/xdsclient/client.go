// Package xdsclient is an xDS v3 client: one State-of-the-World ADS stream
// (envoy.service.discovery.v3.AggregatedDiscoveryService) that subscribes to
// LDS and CDS as wildcards and to RDS and EDS by the names its Consumer
// asks for, hands every response's complete resource set to the Consumer,
// ACKs what the Consumer applied and NACKs what it rejected. It reconnects
// with jittered exponential backoff; the Consumer keeps serving meanwhile.
package xdsclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Resource type URLs.
const (
	ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	RouteType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	ClusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	EndpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
)

// subscriptionOrder is the order of the initial requests: CDS before LDS
// (so clusters warm before listeners route to them), then their dependents.
var subscriptionOrder = []string{ClusterType, EndpointType, ListenerType, RouteType}

// Consumer applies resource sets. Both methods are called from the client's
// goroutine only.
type Consumer interface {
	// Apply receives every resource of typeURL the server sent in one
	// response: the complete set for LDS and CDS, the subscribed names for
	// RDS and EDS. A non-nil error NACKs the response; the consumer must
	// then keep its previous configuration.
	// The resources are the response's own, type-checked: the consumer
	// decodes them (DecodeResource) and may keep them.
	Apply(typeURL, version string, resources []*anypb.Any) error
	// ResourceNames returns the names to subscribe to for RouteType and
	// EndpointType, given what has been applied so far.
	ResourceNames(typeURL string) []string
}

// Options configures a Client.
type Options struct {
	Node     *corev3.Node
	Consumer Consumer
	Log      *slog.Logger
	// Backoff bounds the reconnect delay (defaults 250ms and 30s); each
	// delay is drawn uniformly from [d/2, d] for exponentially growing d.
	BackoffBase, BackoffMax time.Duration
	// NackBackoffBase and NackBackoffMax delay a NACK of a response whose
	// version was already NACKed (defaults 500ms and 10s). Servers such as
	// go-control-plane's re-send the same version at once after a NACK;
	// this keeps that from becoming a busy loop.
	NackBackoffBase, NackBackoffMax time.Duration
}

// Client is an ADS client. Create it with New and run it with Run.
type Client struct {
	conn  grpc.ClientConnInterface
	opts  Options
	types map[string]*typeState
}

type typeState struct {
	url      string
	wildcard bool
	names    []string // subscribed names (non-wildcard types)
	version  string   // last applied version
	nonce    string   // nonce of the last response on this stream
	// NACK rate limiting.
	lastNack  string
	nackDelay time.Duration
	pending   *discoveryv3.DiscoveryRequest
	due       time.Time
}

// New returns a client for the ADS server behind conn.
func New(conn grpc.ClientConnInterface, opts Options) *Client {
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = 250 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 30 * time.Second
	}
	if opts.NackBackoffBase <= 0 {
		opts.NackBackoffBase = 500 * time.Millisecond
	}
	if opts.NackBackoffMax <= 0 {
		opts.NackBackoffMax = 10 * time.Second
	}
	c := &Client{conn: conn, opts: opts, types: map[string]*typeState{}}
	for _, t := range subscriptionOrder {
		c.types[t] = &typeState{url: t, wildcard: t == ListenerType || t == ClusterType}
	}
	return c
}

// Run keeps an ADS stream open until ctx is done, reconnecting with
// backoff. It returns nil when ctx is done.
func (c *Client) Run(ctx context.Context) error {
	attempt := 0
	for {
		received, err := c.runStream(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if received {
			attempt = 0
		}
		d := c.backoff(attempt)
		attempt++
		c.opts.Log.Warn("xds: stream failed; reconnecting", "error", err, "in", d.Round(time.Millisecond))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.opts.BackoffBase << min(attempt, 20)
	if d > c.opts.BackoffMax || d <= 0 {
		d = c.opts.BackoffMax
	}
	return d/2 + rand.N(d/2+1)
}

// runStream runs one stream; received reports whether any response arrived.
func (c *Client) runStream(ctx context.Context) (received bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(c.conn).StreamAggregatedResources(sctx)
	if err != nil {
		return false, fmt.Errorf("xdsclient: open stream: %w", err)
	}
	s := &streamState{c: c, stream: stream, node: c.opts.Node}
	for _, t := range subscriptionOrder {
		st := c.types[t]
		st.nonce, st.pending, st.lastNack, st.nackDelay = "", nil, "", 0
		if !st.wildcard {
			st.names = c.opts.Consumer.ResourceNames(t)
			if len(st.names) == 0 {
				continue
			}
		}
		if err := s.send(st, nil); err != nil {
			return false, err
		}
	}

	recv := make(chan *discoveryv3.DiscoveryResponse)
	recvErr := make(chan error, 1)
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		for {
			resp, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case recv <- resp:
			case <-sctx.Done():
				return
			}
		}
	}()
	defer func() { cancel(); <-recvDone }()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return received, nil
		case err := <-recvErr:
			return received, fmt.Errorf("xdsclient: stream: %w", err)
		case resp := <-recv:
			received = true
			if err := s.handle(resp); err != nil {
				return received, err
			}
		case <-timer.C:
		}
		if err := s.flushPending(timer); err != nil {
			return received, err
		}
	}
}

type streamState struct {
	c      *Client
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   *corev3.Node // sent on the first request only
}

func (s *streamState) send(st *typeState, detail *rpcstatus.Status) error {
	return s.sendReq(s.request(st, detail))
}

func (s *streamState) request(st *typeState, detail *rpcstatus.Status) *discoveryv3.DiscoveryRequest {
	req := &discoveryv3.DiscoveryRequest{
		VersionInfo:   st.version,
		ResponseNonce: st.nonce,
		TypeUrl:       st.url,
		ErrorDetail:   detail,
	}
	if !st.wildcard {
		req.ResourceNames = slices.Clone(st.names)
	}
	return req
}

func (s *streamState) sendReq(req *discoveryv3.DiscoveryRequest) error {
	if s.node != nil {
		req.Node, s.node = s.node, nil
	}
	if err := s.stream.Send(req); err != nil {
		return fmt.Errorf("xdsclient: send %s request: %w", req.TypeUrl, err)
	}
	return nil
}

func (s *streamState) handle(resp *discoveryv3.DiscoveryResponse) error {
	c := s.c
	st := c.types[resp.GetTypeUrl()]
	if st == nil {
		c.opts.Log.Warn("xds: ignoring response of unknown type", "type", resp.GetTypeUrl())
		return nil
	}
	st.nonce = resp.GetNonce()
	err := checkTypes(resp)
	if err == nil {
		err = c.opts.Consumer.Apply(st.url, resp.GetVersionInfo(), resp.GetResources())
	}
	if err != nil {
		c.opts.Log.Warn("xds: config rejected (NACK)", "type", shortType(st.url), "version", resp.GetVersionInfo(),
			"kept_version", st.version, "error", err)
		detail := &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: err.Error()}
		if resp.GetVersionInfo() == st.lastNack {
			st.nackDelay = min(max(2*st.nackDelay, c.opts.NackBackoffBase), c.opts.NackBackoffMax)
			st.pending, st.due = s.request(st, detail), time.Now().Add(st.nackDelay)
		} else {
			st.lastNack, st.nackDelay, st.pending = resp.GetVersionInfo(), 0, nil
			if err := s.send(st, detail); err != nil {
				return err
			}
		}
	} else {
		st.version, st.lastNack, st.nackDelay, st.pending = resp.GetVersionInfo(), "", 0, nil
		c.opts.Log.Info("xds: config applied", "type", shortType(st.url), "version", st.version, "resources", len(resp.GetResources()))
		if err := s.send(st, nil); err != nil {
			return err
		}
	}
	// Applying LDS or CDS may change which routes and endpoints are needed.
	for _, t := range []string{RouteType, EndpointType} {
		dep := c.types[t]
		names := c.opts.Consumer.ResourceNames(t)
		if len(names) == 0 || slices.Equal(names, dep.names) {
			continue
		}
		dep.names = names
		if dep.pending != nil {
			dep.pending.ResourceNames = slices.Clone(names)
			continue
		}
		if err := s.send(dep, nil); err != nil {
			return err
		}
	}
	return nil
}

// flushPending sends the delayed NACKs that are due and re-arms timer for
// the next one.
func (s *streamState) flushPending(timer *time.Timer) error {
	now := time.Now()
	var next time.Time
	for _, t := range subscriptionOrder {
		st := s.c.types[t]
		if st.pending == nil {
			continue
		}
		if !st.due.After(now) {
			req := st.pending
			st.pending = nil
			if err := s.sendReq(req); err != nil {
				return err
			}
			continue
		}
		if next.IsZero() || st.due.Before(next) {
			next = st.due
		}
	}
	timer.Stop()
	if !next.IsZero() {
		timer.Reset(next.Sub(now))
	}
	return nil
}

// checkTypes checks that every resource of a response has its type.
func checkTypes(resp *discoveryv3.DiscoveryResponse) error {
	for i, a := range resp.GetResources() {
		if a.GetTypeUrl() != resp.GetTypeUrl() {
			return fmt.Errorf("xdsclient: resource %d has type %s in a %s response", i, a.GetTypeUrl(), resp.GetTypeUrl())
		}
	}
	return nil
}

// DecodeResource decodes one resource of a response of typeURL.
func DecodeResource(typeURL string, a *anypb.Any) (proto.Message, error) {
	var m proto.Message
	switch typeURL {
	case ListenerType:
		m = &listenerv3.Listener{}
	case RouteType:
		m = &routev3.RouteConfiguration{}
	case ClusterType:
		m = &clusterv3.Cluster{}
	case EndpointType:
		m = &endpointv3.ClusterLoadAssignment{}
	default:
		return nil, errors.New("xdsclient: unsupported type " + typeURL)
	}
	if err := proto.Unmarshal(a.GetValue(), m); err != nil {
		return nil, fmt.Errorf("xdsclient: decode %s resource: %w", typeURL, err)
	}
	return m, nil
}

func shortType(url string) string {
	switch url {
	case ListenerType:
		return "LDS"
	case RouteType:
		return "RDS"
	case ClusterType:
		return "CDS"
	case EndpointType:
		return "EDS"
	}
	return url
}
