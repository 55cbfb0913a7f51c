package xdsclient_test

import (
	"context"
	"errors"
	"google.golang.org/protobuf/types/known/anypb"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/halyard-mesh/halyard/internal/proxy/xdsclient"
	x "github.com/halyard-mesh/halyard/internal/proxy/xdstest"
)

type applied struct {
	typeURL, version string
	n                int
}

// consumer accepts everything except the versions in reject.
type consumer struct {
	mu      sync.Mutex
	reject  map[string]bool
	applies chan applied
	// seen records what waitApplied has read, so waiting for one type does
	// not lose another type's apply that arrived first.
	seen map[[2]string]bool
}

func (c *consumer) Apply(typeURL, version string, res []*anypb.Any) error {
	c.mu.Lock()
	bad := c.reject[version]
	c.mu.Unlock()
	if bad {
		return errors.New("xds: cluster \"c\": rejected for the test")
	}
	c.applies <- applied{typeURL, version, len(res)}
	return nil
}

func (c *consumer) ResourceNames(typeURL string) []string {
	if typeURL == xdsclient.EndpointType {
		return []string{"c"}
	}
	return nil
}

func snapshot(t *testing.T, version string) *cachev3.Snapshot {
	s, err := cachev3.NewSnapshot(version, map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  {x.EDSCluster("c", false)},
		resourcev3.EndpointType: {x.CLA("c", [2]any{"127.0.0.1", 1})},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func serve(t *testing.T, addr string, cache cachev3.SnapshotCache, reqs chan<- *discoveryv3.DiscoveryRequest) (*grpc.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, serverv3.NewServer(context.Background(), cache, serverv3.CallbackFuncs{
		StreamRequestFunc: func(_ int64, r *discoveryv3.DiscoveryRequest) error {
			select {
			case reqs <- r:
			default:
			}
			return nil
		},
	}))
	go func() { _ = g.Serve(ln) }()
	return g, ln.Addr().String()
}

func waitApplied(t *testing.T, c *consumer, typeURL, version string) {
	t.Helper()
	if c.seen == nil {
		c.seen = map[[2]string]bool{}
	}
	deadline := time.After(15 * time.Second)
	for !c.seen[[2]string{typeURL, version}] {
		select {
		case a := <-c.applies:
			c.seen[[2]string{a.typeURL, a.version}] = true
		case <-deadline:
			t.Fatalf("%s version %s not applied", typeURL, version)
		}
	}
}

func TestACKNACKAndReconnect(t *testing.T) {
	const node = "sidecar~127.0.0.1~a-0.default~default.svc.cluster.local"
	cache := cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil)
	if err := cache.SetSnapshot(context.Background(), node, snapshot(t, "1")); err != nil {
		t.Fatal(err)
	}
	reqs := make(chan *discoveryv3.DiscoveryRequest, 1000)
	g, addr := serve(t, "127.0.0.1:0", cache, reqs)

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithNoProxy())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cons := &consumer{reject: map[string]bool{"2": true}, applies: make(chan applied, 100)}
	c := xdsclient.New(conn, xdsclient.Options{
		Node: &corev3.Node{Id: node}, Consumer: cons, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, NackBackoffBase: 20 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	waitApplied(t, cons, xdsclient.ClusterType, "1")
	waitApplied(t, cons, xdsclient.EndpointType, "1")

	// A rejected version is NACKed with the previous version and the error.
	if err := cache.SetSnapshot(context.Background(), node, snapshot(t, "2")); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(15 * time.Second)
	for found := false; !found; {
		select {
		case r := <-reqs:
			if r.GetTypeUrl() == xdsclient.ClusterType && r.GetErrorDetail() != nil {
				if r.GetVersionInfo() != "1" || r.GetErrorDetail().GetMessage() != `xds: cluster "c": rejected for the test` {
					t.Fatalf("NACK: version %q detail %q", r.GetVersionInfo(), r.GetErrorDetail().GetMessage())
				}
				found = true
			}
		case <-timeout:
			t.Fatal("no NACK")
		}
	}

	// The server goes away and comes back: the client reconnects and
	// gets the (now acceptable) configuration.
	g.Stop()
	cons.mu.Lock()
	cons.reject = nil
	cons.mu.Unlock()
	g2, _ := serve(t, addr, cache, reqs)
	defer g2.Stop()
	waitApplied(t, cons, xdsclient.ClusterType, "2")

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
