package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/jwk/jwktest"
)

// TestJWTAndAuthorization: RequestAuthentication and an ALLOW policy on the
// token's principal, audiences and (nested) claims, as Istio's "require a JWT"
// task: no token 403, a valid token of the wrong user or group 403, a bad
// token 401, the right users 200.
func TestJWTAndAuthorization(t *testing.T) {
	const issuer = "https://issuer.halyard.test"
	k, _ := jwktest.NewKey("ES256", "k")
	jwks := newJWKSServer(t, jwktest.JWKS(k))
	policy := fmt.Sprintf(`apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: jwt
spec:
  selector:
    matchLabels: {app: echo}
  jwtRules:
  - issuer: %s
    jwksUri: %s/jwks.json
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: require-jwt
spec:
  selector:
    matchLabels: {app: echo}
  action: ALLOW
  rules:
  - from:
    - source:
        requestPrincipals: ["%s/alice", "%s/bob"]
    when:
    - key: request.auth.claims[groups]
      values: ["admins"]
    - key: request.auth.audiences
      values: ["echo"]
    - key: request.auth.claims[org][team]
      values: ["blue"]
`, issuer, jwks.URL, issuer, issuer)
	m := startMesh(t, map[string]string{"echo.yaml": sampleService("echo", "http", 9080, 1), "policy.yaml": policy})
	c := m.client("halyard-exec")
	tok := func(sub string, groups []string, team string) http.Header {
		return http.Header{"Authorization": {"Bearer " + k.Sign(map[string]any{"iss": issuer, "sub": sub, "aud": "echo",
			"groups": groups, "org": map[string]any{"team": team}, "exp": time.Now().Add(time.Hour).Unix()}, nil)}}
	}
	for _, tc := range []struct {
		name string
		h    http.Header
		want int
	}{
		{"no token", nil, 403},
		{"alice admin", tok("alice", []string{"dev", "admins"}, "blue"), 200},
		{"bob admin", tok("bob", []string{"admins"}, "blue"), 200},
		{"alice not admin", tok("alice", []string{"dev"}, "blue"), 403},
		{"alice other team", tok("alice", []string{"admins"}, "red"), 403},
		{"carol admin", tok("carol", []string{"admins"}, "blue"), 403},
		{"bad token", http.Header{"Authorization": {"Bearer x.y.z"}}, 401},
	} {
		status, _, body, err := get(c, "http://echo:9080/", tc.h)
		if err != nil || status != tc.want {
			t.Errorf("%s: %d %v %.80s, want %d", tc.name, status, err, body, tc.want)
		}
	}
}
