package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/halyard-mesh/halyard/internal/sample"
)

const grpcEcho = `apiVersion: v1
kind: Service
metadata:
  name: grpc-echo
spec:
  selector:
    app: grpc-echo
  ports:
  - name: grpc
    port: 9090
    targetPort: grpc
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: grpc-echo
spec:
  replicas: 3
  selector:
    matchLabels:
      app: grpc-echo
  template:
    metadata:
      labels:
        app: grpc-echo
        version: v1
    spec:
      containers:
      - name: echo
        image: ghcr.io/halyard-mesh/halyard:latest
        command: ["halyard", "sample", "--service", "grpc-echo", "--port", "$(PORT)"]
        ports:
        - name: grpc
          containerPort: 9090
`

// grpcClientEnv makes the test binary act as an unmodified gRPC client
// ("TARGET CALLS"): run under `halyard exec`, it reaches the mesh through
// HTTPS_PROXY like any grpc-go application, and prints per-instance counts.
const grpcClientEnv = "HALYARD_E2E_GRPC_CLIENT"

func grpcClientMain() int {
	target, n, _ := strings.Cut(os.Getenv(grpcClientEnv), " ")
	calls, _ := strconv.Atoi(n)
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	counts := map[string]int{}
	for i := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := sample.EchoUnary(ctx, conn, fmt.Sprint("call ", i))
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "call %d: %v\n", i, err)
			return 1
		}
		counts[r.Instance]++
	}
	json.NewEncoder(os.Stdout).Encode(counts)
	return 0
}

// TestGRPCPerRequestBalancing sends unary gRPC calls from an unmodified
// grpc-go client through two sidecars: they work, and the client sidecar
// spreads them per request over the 3 endpoints although the client holds
// a single HTTP/2 connection.
func TestGRPCPerRequestBalancing(t *testing.T) {
	m := startMesh(t, map[string]string{"grpc.yaml": grpcEcho})
	const n = 600
	counts := runGRPCClient(t, m, n)
	t.Logf("%d unary calls over instances: %v (want 3 instances, each 33%% +/- 8%%)", n, counts)
	if len(counts) != 3 {
		t.Fatalf("calls reached %d instances, want 3", len(counts))
	}
	for inst, c := range counts {
		if share := percent(c, n); share < 25.3 || share > 41.3 {
			t.Errorf("instance %s got %.1f%%", inst, share)
		}
	}
}

// runGRPCClient runs the test binary as a grpc-go client through `halyard
// exec` (grpcClientMain): n unary calls to grpc-echo:9090, and returns the
// calls per instance that answered.
func runGRPCClient(t *testing.T, m *mesh, n int) map[string]int {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Setenv(grpcClientEnv, fmt.Sprintf("grpc-echo:9090 %d", n))
	out, err := m.halyard(ctx, "exec", "--", self)
	if err != nil {
		t.Fatalf("grpc client: %v\n%s", err, out)
	}
	counts := map[string]int{}
	mustJSON(t, []byte(out[strings.Index(out, "{"):]), &counts)
	return counts
}
