package sample_test

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/halyard-mesh/halyard/internal/sample"
)

// dial returns a gRPC client for addr (plaintext HTTP/2, no proxy).
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithNoProxy())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestGRPCEchoUnary(t *testing.T) {
	addr := start(t, sample.Options{Service: "echo", Version: "v3", Instance: "echo-0"})
	ctx := metadata.AppendToOutgoingContext(timeout(t), "x-request-id", "grpc-req-1")
	r, err := sample.EchoUnary(ctx, dial(t, addr), "hello")
	if err != nil {
		t.Fatal(err)
	}
	want := sample.Reply{Service: "echo", Version: "v3", Instance: "echo-0", Message: "hello", RequestID: "grpc-req-1"}
	if !reflect.DeepEqual(*r, want) {
		t.Errorf("reply = %+v, want %+v", *r, want)
	}
}

func TestGRPCEchoStream(t *testing.T) {
	addr := start(t, sample.Options{Service: "echo", Version: "v1", Instance: "echo-1"})
	conn := dial(t, addr)
	msgs := []string{"one", "two", "", "four"}
	replies, err := sample.EchoStream(timeout(t), conn, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) != len(msgs) {
		t.Fatalf("%d replies, want %d", len(replies), len(msgs))
	}
	for i, r := range replies {
		if r.Message != msgs[i] || r.Service != "echo" || r.Instance != "echo-1" {
			t.Errorf("reply %d = %+v, want message %q from echo-1", i, r, msgs[i])
		}
	}
	// A second stream on the same connection works too.
	if _, err := sample.EchoStream(timeout(t), conn, []string{"again"}); err != nil {
		t.Errorf("second stream: %v", err)
	}
}

func TestGRPCHealth(t *testing.T) {
	addr := start(t, sample.Options{})
	hc := healthpb.NewHealthClient(dial(t, addr))
	for _, svc := range []string{"", sample.EchoServiceName} {
		resp, err := hc.Check(timeout(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("Check(%q): %v", svc, err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, want SERVING", svc, resp.GetStatus())
		}
	}
	_, err := hc.Check(timeout(t), &healthpb.HealthCheckRequest{Service: "nope"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("Check(nope) error = %v, want NotFound", err)
	}
}

func TestGRPCUnknownMethod(t *testing.T) {
	addr := start(t, sample.Options{})
	err := dial(t, addr).Invoke(timeout(t), "/halyard.sample.v1.Echo/Nope", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("unknown method error = %v, want Unimplemented", err)
	}
}

// HTTP and gRPC share one port and one connection kind (h2c).
func TestGRPCAndHTTPSamePort(t *testing.T) {
	addr := start(t, sample.Options{Service: "mixed"})
	if _, err := sample.EchoUnary(timeout(t), dial(t, addr), "x"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*http.Client{http1Client(t), h2cClient(t)} {
		if r, status := fetch(t, c, "http://"+addr+"/", nil); status != 200 || r.Service != "mixed" {
			t.Errorf("HTTP on the gRPC port: %d %+v", status, r)
		}
	}
}
