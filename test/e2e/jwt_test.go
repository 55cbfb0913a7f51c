package e2e

// End-to-end test of RequestAuthentication: a real JWKS server referenced
// by jwksUri, tokens checked by the server's sidecar, claims reaching the
// application, and keys rotated at the JWKS server picked up by the
// control plane without a restart.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/jwk/jwktest"
)

// jwksServer serves a key set the test can replace.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	keys string
}

func newJWKSServer(t *testing.T, keys string) *jwksServer {
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(s.keys))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(keys string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func TestRequestAuthentication(t *testing.T) {
	const issuer = "https://issuer.halyard.test"
	oldKey, err := jwktest.NewKey("RS256", "old")
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := jwktest.NewKey("ES256", "new")
	if err != nil {
		t.Fatal(err)
	}
	jwks := newJWKSServer(t, jwktest.JWKS(oldKey))
	policy := fmt.Sprintf(`apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: jwt
spec:
  selector:
    matchLabels: {app: echo}
  jwtRules:
  - issuer: %s
    audiences: [echo]
    jwksUri: %s/jwks.json
    outputClaimToHeaders:
    - {header: x-jwt-sub, claim: sub}
  - issuer: https://down.halyard.test
    jwksUri: http://127.0.0.1:1/jwks.json
    timeout: 1s
`, issuer, jwks.URL)
	m := startMesh(t, map[string]string{
		"echo.yaml":   sampleService("echo", "http", 9080, 1),
		"policy.yaml": policy,
	}, "--jwks-refresh-interval", "200ms")
	c := m.client("halyard-exec")
	claims := func(iss string) map[string]any {
		return map[string]any{"iss": iss, "sub": "alice", "aud": "echo", "exp": time.Now().Add(time.Hour).Unix()}
	}
	send := func(h http.Header) (int, string, http.Header) {
		t.Helper()
		status, _, body, err := get(c, "http://echo:9080/", h)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Headers http.Header `json:"headers"`
		}
		if status == http.StatusOK {
			mustJSON(t, body, &r)
		}
		return status, string(body), r.Headers
	}
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

	status, body, seen := send(bearer(oldKey.Sign(claims(issuer), nil)))
	if status != 200 || seen.Get("X-Jwt-Sub") != "alice" || seen.Get("Authorization") != "" {
		t.Fatalf("valid token: status %d, app saw x-jwt-sub %q, authorization %q; body %s",
			status, seen.Get("X-Jwt-Sub"), seen.Get("Authorization"), body)
	}
	if status, body, _ = send(bearer(newKey.Sign(claims(issuer), map[string]any{"kid": "old", "alg": "RS256"}))); status != 401 || body != "Jwt verification fails" {
		t.Errorf("forged token: status %d, body %q; want 401 Jwt verification fails", status, body)
	}
	expired := claims(issuer)
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	if status, body, _ = send(bearer(oldKey.Sign(expired, nil))); status != 401 || body != "Jwt is expired" {
		t.Errorf("expired token: status %d, body %q; want 401 Jwt is expired", status, body)
	}
	if status, body, seen = send(http.Header{"X-Jwt-Sub": {"forged"}}); status != 200 || seen.Get("X-Jwt-Sub") != "forged" {
		t.Errorf("no token: status %d, x-jwt-sub %q (%s); want 200 and the header untouched", status, seen.Get("X-Jwt-Sub"), body)
	}
	// The unreachable jwksUri's provider has a key nobody has.
	if status, body, _ = send(bearer(oldKey.Sign(claims("https://down.halyard.test"), nil))); status != 401 {
		t.Errorf("token of the issuer whose keys are unreachable: status %d, body %q; want 401", status, body)
	}

	// Rotation: the JWKS server drops the old key for the new one.
	start := time.Now()
	jwks.set(jwktest.JWKS(newKey))
	fresh := newKey.Sign(claims(issuer), nil)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if status, _, _ = send(bearer(fresh)); status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a token of the rotated key still gets %d after 20s", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("rotated key accepted %v after the JWKS server changed", time.Since(start).Round(time.Millisecond))
	if status, body, _ = send(bearer(oldKey.Sign(claims(issuer), nil))); status != 401 {
		t.Errorf("token of the retired key: status %d, body %q; want 401", status, body)
	}
}
