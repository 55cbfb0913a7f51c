package controlplane

import (
	"context"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
)

// fakeStream is a grpc.ServerStream whose RecvMsg returns the requests
// written to acks.
type fakeStream struct {
	grpc.ServerStream
	ctx  context.Context
	acks chan *discovery.DiscoveryRequest
}

func (f *fakeStream) Context() context.Context { return f.ctx }
func (f *fakeStream) SendMsg(any) error        { return nil }
func (f *fakeStream) RecvMsg(m any) error {
	m.(*discovery.DiscoveryRequest).ResponseNonce = (<-f.acks).GetResponseNonce()
	return nil
}

func TestLimiterSlotIsPerStreamAndFreedByTheLastAck(t *testing.T) {
	sem := make(chan struct{}, 1)
	newStream := func() *limitedStream {
		return &limitedStream{ServerStream: &fakeStream{ctx: context.Background(), acks: make(chan *discovery.DiscoveryRequest, 4)},
			sem: sem, timeout: time.Minute}
	}
	a, b := newStream(), newStream()
	// A stream holding the slot sends its other types without waiting.
	for range 3 {
		if err := a.SendMsg(&discovery.DiscoveryResponse{}); err != nil {
			t.Fatal(err)
		}
	}
	sent := make(chan error, 1)
	go func() { sent <- b.SendMsg(&discovery.DiscoveryResponse{}) }()
	ack := func() {
		a.ServerStream.(*fakeStream).acks <- &discovery.DiscoveryRequest{ResponseNonce: "n"}
		if err := a.RecvMsg(&discovery.DiscoveryRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	ack()
	ack()
	select {
	case <-sent:
		t.Fatal("the other stream got the slot while one response was unanswered")
	default:
	}
	ack()
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the slot was not freed by the last ACK")
	}
}

func TestLimiterFreesTheSlotOfASilentProxy(t *testing.T) {
	sem := make(chan struct{}, 1)
	a := &limitedStream{ServerStream: &fakeStream{ctx: context.Background()}, sem: sem, timeout: 50 * time.Millisecond}
	b := &limitedStream{ServerStream: &fakeStream{ctx: context.Background()}, sem: sem, timeout: time.Minute}
	if err := a.SendMsg(&discovery.DiscoveryResponse{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := b.SendMsg(&discovery.DiscoveryResponse{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("slot taken after %s, before the silent proxy's timeout", d)
	}
}
