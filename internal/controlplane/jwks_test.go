package controlplane

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/halyard-mesh/halyard/internal/jwk/jwktest"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// TestJWKSPush: the keys behind a jwksUri reach the pod's listeners with
// the first push, and a rotation at the JWKS server is pushed again.
func TestJWKSPush(t *testing.T) {
	k1, _ := jwktest.NewKey("ES256", "first-key")
	k2, _ := jwktest.NewKey("ES256", "second-key")
	var mu sync.Mutex
	keys := jwktest.JWKS(k1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = w.Write([]byte(keys))
	}))
	defer srv.Close()

	s := New(Options{XDSAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0", JWKSRefresh: 50 * time.Millisecond})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	s.SetConfig(parse(t, meshYAML+fmt.Sprintf(`---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt}
spec:
  jwtRules: [{issuer: https://iss, jwksUri: %q}]
`, srv.URL)))
	s.SetPods([]registry.Pod{{Name: "reviews-0", Namespace: "default", Workload: "reviews", ProxyID: nodeID,
		Labels: map[string]string{"app": "reviews"}, OutboundAddress: "127.0.0.1:15001", Ready: true,
		Ports: []registry.PodPort{{ContainerPort: 9080, AppAddress: "127.0.0.1:5001", InboundAddress: "127.0.0.1:6001"}}}})
	stream := adsStream(t, s)
	first := recv(t, stream)
	if !strings.Contains(first.String(), "first-key") || strings.Contains(first.String(), "halyard-unreachable-jwks") {
		t.Fatalf("first push lacks the fetched keys")
	}
	mu.Lock()
	keys = jwktest.JWKS(k2)
	mu.Unlock()
	if err := stream.Send(ackOf(first)); err != nil {
		t.Fatal(err)
	}
	second := recv(t, stream)
	if second.TypeUrl != resource.ListenerType || !strings.Contains(second.String(), "second-key") || strings.Contains(second.String(), "first-key") {
		t.Errorf("second push does not carry the rotated keys")
	}
}

func ackOf(r *discovery.DiscoveryResponse) *discovery.DiscoveryRequest {
	return &discovery.DiscoveryRequest{TypeUrl: r.TypeUrl, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce}
}
