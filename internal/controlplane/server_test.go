package controlplane

import (
	"context"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/registry"
	"github.com/halyard-mesh/halyard/internal/waittest"
)

const meshYAML = `apiVersion: v1
kind: Service
metadata:
  name: reviews
spec:
  selector:
    app: reviews
  ports:
  - name: http
    port: 9080
`

func parse(t *testing.T, y string) *config.Snapshot {
	t.Helper()
	cfg, diags := config.Parse("mesh.yaml", []byte(y))
	if cfg == nil {
		t.Fatalf("config: %v", diags)
	}
	return cfg
}

func startServer(t *testing.T) *Server {
	t.Helper()
	s := New(Options{XDSAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0"})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

const nodeID = "sidecar~127.0.0.1~client-0.default~default.svc.cluster.local"

func clientPod() registry.Pod {
	return registry.Pod{Name: "client-0", Namespace: "default", Workload: "client", ProxyID: nodeID,
		OutboundAddress: "127.0.0.1:15001", Ready: true}
}

// adsStream opens an ADS stream and subscribes to listeners.
func adsStream(t *testing.T, s *Server) discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient {
	t.Helper()
	conn, err := grpc.NewClient(s.XDSAddress(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discovery.DiscoveryRequest{Node: &core.Node{Id: nodeID}, TypeUrl: resource.ListenerType}); err != nil {
		t.Fatal(err)
	}
	return stream
}

func recv(t *testing.T, stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient) *discovery.DiscoveryResponse {
	t.Helper()
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	return resp
}

func status1(t *testing.T, s *Server) ProxyStatus {
	t.Helper()
	for _, p := range s.SyncStatus() {
		if p.ID == nodeID {
			return p
		}
	}
	t.Fatalf("no sync status for %s: %+v", nodeID, s.SyncStatus())
	return ProxyStatus{}
}

func TestPushAckAndRepushOnChange(t *testing.T) {
	s := startServer(t)
	s.SetConfig(parse(t, meshYAML))
	s.SetPods([]registry.Pod{clientPod()})
	stream := adsStream(t, s)

	first := recv(t, stream)
	if len(first.Resources) == 0 {
		t.Fatalf("no listeners pushed")
	}
	ack := &discovery.DiscoveryRequest{TypeUrl: resource.ListenerType, VersionInfo: first.VersionInfo, ResponseNonce: first.Nonce}
	if err := stream.Send(ack); err != nil {
		t.Fatal(err)
	}
	waittest.Until(t, "ACK recorded", func() bool { return status1(t, s).Types["LDS"].Acked == first.VersionInfo })
	if st := status1(t, s); !st.Connected || st.Types["LDS"].Want != first.VersionInfo || st.Types["LDS"].ConvergedAfter == "" {
		t.Errorf("status after ACK: %+v %+v", st, st.Types["LDS"])
	}

	// The same config again is not pushed again; a new port is.
	s.SetConfig(parse(t, meshYAML))
	s.SetConfig(parse(t, strings.Replace(meshYAML, "port: 9080", "port: 9081", 1)))
	second := recv(t, stream)
	if second.VersionInfo == first.VersionInfo {
		t.Fatalf("changed config pushed with the same version %s", second.VersionInfo)
	}
	if !strings.Contains(second.String(), "0.0.0.0_9081") {
		t.Errorf("pushed listeners lack 0.0.0.0_9081")
	}

	nack := &discovery.DiscoveryRequest{TypeUrl: resource.ListenerType, VersionInfo: first.VersionInfo,
		ResponseNonce: second.Nonce, ErrorDetail: &status.Status{Message: "listener: bad thing"}}
	if err := stream.Send(nack); err != nil {
		t.Fatal(err)
	}
	waittest.Until(t, "NACK recorded", func() bool { return status1(t, s).Types["LDS"].NackError == "listener: bad thing" })
	if st := status1(t, s); st.Synced() {
		t.Errorf("a NACKing proxy reported as synced: %+v", st)
	}
}

func TestUnknownProxyGetsNothingUntilRegistered(t *testing.T) {
	s := startServer(t)
	s.SetConfig(parse(t, meshYAML))
	stream := adsStream(t, s)
	got := make(chan *discovery.DiscoveryResponse, 1)
	go func() {
		if resp, err := stream.Recv(); err == nil {
			got <- resp
		}
	}()
	select {
	case resp := <-got:
		t.Fatalf("unregistered proxy got config version %s", resp.VersionInfo)
	case <-time.After(200 * time.Millisecond):
	}
	s.SetPods([]registry.Pod{clientPod()})
	select {
	case resp := <-got:
		if len(resp.Resources) == 0 {
			t.Errorf("empty push after registration")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no push after the pod was registered")
	}
}
