package controlplane

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// sharedMarshalCache serves the snapshot cache's responses with every
// resource marshalled once, however many proxies receive it: proxies of one
// class share their resource objects (xds.Builder), and go-control-plane
// would otherwise marshal each of them again for every proxy.
type sharedMarshalCache struct {
	cache.SnapshotCache
	anys atomic.Pointer[anyCache] // replaced at every push, so old entries go
}

var _ cache.Cache = (*sharedMarshalCache)(nil)

func newSharedMarshalCache(c cache.SnapshotCache) *sharedMarshalCache {
	s := &sharedMarshalCache{SnapshotCache: c}
	s.anys.Store(&anyCache{})
	return s
}

// newGeneration drops the marshalled resources of earlier pushes.
func (s *sharedMarshalCache) newGeneration() { s.anys.Store(&anyCache{}) }

// CreateWatch wraps the snapshot cache's (single) response for the watch.
func (s *sharedMarshalCache) CreateWatch(req *cache.Request, sub cache.Subscription, out chan cache.Response) (func(), error) {
	inner := make(chan cache.Response, 1)
	cancel, err := s.SnapshotCache.CreateWatch(req, sub, inner)
	if err != nil {
		return cancel, err
	}
	stop := make(chan struct{})
	var once sync.Once
	go func() {
		select {
		case r := <-inner:
			if raw, ok := r.(*cache.RawResponse); ok && !raw.Heartbeat {
				r = &sharedResponse{RawResponse: raw, anys: s.anys.Load()}
			}
			out <- r
		case <-stop:
		}
	}()
	return func() {
		once.Do(func() { close(stop) })
		if cancel != nil {
			cancel()
		}
	}, nil
}

// sharedResponse is a snapshot cache response whose resources come from the
// shared marshalled forms.
type sharedResponse struct {
	*cache.RawResponse
	anys *anyCache
}

func (r *sharedResponse) GetDiscoveryResponse() (*discovery.DiscoveryResponse, error) {
	typeURL := r.GetRequest().GetTypeUrl()
	raw := r.GetRawResources()
	out := &discovery.DiscoveryResponse{
		VersionInfo: r.GetResponseVersion(),
		TypeUrl:     typeURL,
		Resources:   make([]*anypb.Any, len(raw)),
	}
	for i, res := range raw {
		a, err := r.anys.get(typeURL, res.Resource)
		if err != nil {
			return nil, err
		}
		out.Resources[i] = a
	}
	return out, nil
}

// anyCache holds each resource object's marshalled form.
type anyCache struct{ m sync.Map } // types.Resource -> *anypb.Any

func (c *anyCache) get(typeURL string, res types.Resource) (*anypb.Any, error) {
	if a, ok := c.m.Load(res); ok {
		return a.(*anypb.Any), nil
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("controlplane: marshal %s: %w", typeURL, err)
	}
	a, _ := c.m.LoadOrStore(res, &anypb.Any{TypeUrl: typeURL, Value: b})
	return a.(*anypb.Any), nil
}

// pushLimiter bounds how many xDS responses are unanswered at once across
// all proxies. gRPC queues a whole encoded message for the connection and
// returns before the proxy has read it, so without a bound a push to
// thousands of proxies holds every proxy's encoded config in memory at
// once. A slot is taken by each response sent and freed when the proxy
// answers it (ACK or NACK) on the same stream, when the stream ends, or
// after ackTimeout, so a proxy that never answers cannot hold it.
func pushLimiter(n int, ackTimeout time.Duration) grpc.StreamServerInterceptor {
	sem := make(chan struct{}, n)
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ls := &limitedStream{ServerStream: ss, sem: sem, timeout: ackTimeout}
		defer ls.releaseAll()
		return handler(srv, ls)
	}
}

type limitedStream struct {
	grpc.ServerStream
	sem     chan struct{}
	timeout time.Duration

	mu      sync.Mutex
	pending []func() // one release per unanswered response, oldest first
}

func (s *limitedStream) SendMsg(m any) error {
	select {
	case s.sem <- struct{}{}:
	case <-s.Context().Done():
		return s.Context().Err()
	}
	var once sync.Once
	release := func() { once.Do(func() { <-s.sem }) }
	timer := time.AfterFunc(s.timeout, release)
	s.mu.Lock()
	s.pending = append(s.pending, func() { timer.Stop(); release() })
	s.mu.Unlock()
	return s.ServerStream.SendMsg(m)
}

func (s *limitedStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if req, ok := m.(*discovery.DiscoveryRequest); ok && err == nil && req.GetResponseNonce() != "" {
		s.mu.Lock()
		if len(s.pending) > 0 {
			release := s.pending[0]
			s.pending = s.pending[1:]
			s.mu.Unlock()
			release()
			return nil
		}
		s.mu.Unlock()
	}
	return err
}

func (s *limitedStream) releaseAll() {
	s.mu.Lock()
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, release := range pending {
		release()
	}
}
