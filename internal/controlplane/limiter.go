package controlplane

import (
	"sync"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
)

// pushLimiter bounds how many proxies have xDS responses unanswered at
// once. gRPC queues a whole encoded message for the connection and returns
// before the proxy has read it, so without a bound a push to thousands of
// proxies holds every proxy's encoded config in memory at once.
//
// A stream takes a slot before it sends a response while it has none
// unanswered, keeps it while it sends the other types (at most one
// response per type is unanswered), and gives it back when the proxy has
// answered (ACK or NACK) every response, when the stream ends, or when the
// proxy has answered nothing for ackTimeout. A stream that holds a slot
// never waits for another, so streams cannot wait on each other's ACKs:
// those arrive on a stream's receive side, which its sender blocks while
// it waits.
func pushLimiter(n int, ackTimeout time.Duration) grpc.StreamServerInterceptor {
	sem := make(chan struct{}, n)
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ls := &limitedStream{ServerStream: ss, sem: sem, timeout: ackTimeout}
		defer ls.release()
		return handler(srv, ls)
	}
}

type limitedStream struct {
	grpc.ServerStream
	sem     chan struct{}
	timeout time.Duration

	mu         sync.Mutex
	held       bool
	unanswered int
	timer      *time.Timer // releases the slot of a proxy that stopped answering
}

func (s *limitedStream) SendMsg(m any) error {
	s.mu.Lock()
	if !s.held {
		s.mu.Unlock()
		select {
		case s.sem <- struct{}{}:
		case <-s.Context().Done():
			return s.Context().Err()
		}
		s.mu.Lock()
		s.held = true
	}
	s.unanswered++
	if s.timer == nil {
		s.timer = time.AfterFunc(s.timeout, s.release)
	} else {
		s.timer.Reset(s.timeout)
	}
	s.mu.Unlock()
	return s.ServerStream.SendMsg(m)
}

func (s *limitedStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if req, ok := m.(*discovery.DiscoveryRequest); ok && err == nil && req.GetResponseNonce() != "" {
		s.mu.Lock()
		if s.unanswered > 0 {
			s.unanswered--
		}
		done := s.unanswered == 0
		s.mu.Unlock()
		if done {
			s.release()
		}
	}
	return err
}

// release gives the stream's slot back, if it holds one.
func (s *limitedStream) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.held {
		s.held = false
		s.unanswered = 0
		<-s.sem
	}
}
