package bench

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// adsTypes are the xDS types every simulated proxy subscribes to (as
// wildcards, over one ADS stream).
func adsTypes() []string {
	return []string{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType}
}

// adsClient is one simulated sidecar: its own gRPC connection and ADS
// stream, ACKing every response it gets.
type adsClient struct {
	node  string
	conn  *grpc.ClientConn
	codec *headerCodec

	mu     sync.Mutex
	acked  map[string]string // type URL -> version last ACKed
	target *convergence
	err    error
}

// convergence waits for a client to ACK, for every type the push changes,
// a version other than the one it had when the wait began.
type convergence struct {
	client   *adsClient
	changes  []string // the types the push changes
	baseline map[string]string
	at       time.Time // when the last type was ACKed; valid once done is closed
	done     chan struct{}
}

// envoyWindow is Envoy's default initial HTTP/2 stream window.
const envoyWindow = 256 << 20

// dialADS connects one client and subscribes it to every type.
func dialADS(ctx context.Context, addr, node string) (*adsClient, error) {
	c := &adsClient{node: node, codec: &headerCodec{}, acked: map[string]string{}}
	// HTTP/2 flow-control windows as large as Envoy's (256 MiB per
	// stream), so that receiving a large response takes no window-update
	// round trips; grpc-go's default is 64 KiB, grown by its BDP estimator.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(envoyWindow), grpc.WithInitialConnWindowSize(envoyWindow),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(c.codec), grpc.MaxCallRecvMsgSize(1<<30)))
	if err != nil {
		return nil, fmt.Errorf("bench: ads client %s: %w", node, err)
	}
	c.conn = conn
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("bench: ads client %s: %w", node, err)
	}
	for i, typeURL := range adsTypes() {
		req := &discovery.DiscoveryRequest{TypeUrl: typeURL}
		if i == 0 {
			req.Node = &core.Node{Id: node, Cluster: "bench"}
		}
		if err := stream.Send(req); err != nil {
			conn.Close()
			return nil, fmt.Errorf("bench: ads client %s: subscribe: %w", node, err)
		}
	}
	go c.recv(stream)
	return c, nil
}

// recv ACKs every response until the stream ends.
func (c *adsClient) recv(stream grpc.BidiStreamingClient[discovery.DiscoveryRequest, discovery.DiscoveryResponse]) {
	for {
		resp, err := stream.Recv()
		if err == nil {
			err = stream.Send(&discovery.DiscoveryRequest{
				TypeUrl: resp.GetTypeUrl(), VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce(),
			})
		}
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		c.ack(resp.GetTypeUrl(), resp.GetVersionInfo(), time.Now())
	}
}

func (c *adsClient) ack(typeURL, version string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.acked[typeURL] = version
	t := c.target
	if t == nil || t.isDone() {
		return
	}
	for _, typ := range t.changes {
		if v := c.acked[typ]; v == "" || v == t.baseline[typ] {
			return
		}
	}
	t.at = now
	close(t.done)
}

// expect starts waiting for the client to ACK new versions of the types a
// push changes.
func (c *adsClient) expect(changes []string) *convergence {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.target = &convergence{client: c, changes: changes, baseline: maps.Clone(c.acked), done: make(chan struct{})}
	return c.target
}

func (t *convergence) isDone() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// fleet is every simulated proxy.
type fleet struct{ clients []*adsClient }

// dialFleet connects one client per node, a few at a time.
func dialFleet(ctx context.Context, addr string, nodes []string) (*fleet, error) {
	f := &fleet{clients: make([]*adsClient, len(nodes))}
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for i, node := range nodes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := dialADS(ctx, addr, node)
			if err != nil {
				firstErr.CompareAndSwap(nil, &err)
				return
			}
			f.clients[i] = c
		})
	}
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		f.close()
		return nil, *err
	}
	return f, nil
}

// expect starts a convergence wait on every client.
func (f *fleet) expect(changes []string) []*convergence {
	out := make([]*convergence, len(f.clients))
	for i, c := range f.clients {
		out[i] = c.expect(changes)
	}
	return out
}

// responseBytes is the size of every response received so far.
func (f *fleet) responseBytes() int64 {
	var n int64
	for _, c := range f.clients {
		n += c.codec.received.Load()
	}
	return n
}

func (f *fleet) close() {
	for _, c := range f.clients {
		if c != nil {
			c.conn.Close()
		}
	}
}
