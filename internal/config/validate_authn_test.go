package config

import "testing"

func TestRequestAuthenticationValidation(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "valid policy is applied", in: `
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: jwt
  namespace: istio-system
spec:
  jwtRules:
  - issuer: https://issuer.example
    audiences: [bookinfo]
    jwksUri: https://issuer.example/jwks.json
    fromHeaders: [{name: x-jwt, prefix: "Token "}]
    fromParams: [jwt]
    fromCookies: [session]
    outputPayloadToHeader: x-jwt-payload
    outputClaimToHeaders: [{header: x-sub, claim: sub}]
    forwardOriginalToken: true
    timeout: 2s
`},
		{name: "bad rules", in: `
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: jwt
spec:
  selector:
    matchLabels: {app: reviews}
  targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: gw}
  jwtRules:
  - jwksUri: ftp://issuer.example/jwks
    audiences: [""]
  - issuer: a
    jwks: '{"keys": [{"kty": "RSA", "n": "AQAB"'
    fromHeaders: [{prefix: "Bearer "}]
    fromParams: [""]
    outputClaimToHeaders:
    - {header: "x sub", claim: sub}
    - {header: x-a, claim: ""}
    - {header: X-A, claim: b}
  - issuer: b
    jwksUri: "https://"
    jwks: '{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}'
`, want: []string{
			`t.yaml:5: RequestAuthentication/default/jwt: spec: only one of selector, targetRef or targetRefs may be set`,
			`t.yaml:10: RequestAuthentication/default/jwt: spec.jwtRules[0].issuer: missing required field`,
			`t.yaml:10: RequestAuthentication/default/jwt: spec.jwtRules[0].jwksUri: invalid URL "ftp://issuer.example/jwks": the scheme must be http or https`,
			`t.yaml:11: RequestAuthentication/default/jwt: spec.jwtRules[0].audiences[0]: audience must be a non-empty string`,
			`t.yaml:13: RequestAuthentication/default/jwt: spec.jwtRules[1].jwks: jwk: invalid JSON: unexpected EOF`,
			`t.yaml:14: RequestAuthentication/default/jwt: spec.jwtRules[1].fromHeaders[0].name: location header name must be a non-empty string`,
			`t.yaml:15: RequestAuthentication/default/jwt: spec.jwtRules[1].fromParams[0]: location query must be a non-empty string`,
			`t.yaml:17: RequestAuthentication/default/jwt: spec.jwtRules[1].outputClaimToHeaders[0].header: invalid header name "x sub"`,
			`t.yaml:18: RequestAuthentication/default/jwt: spec.jwtRules[1].outputClaimToHeaders[1].claim: claim must be a non-empty string`,
			`t.yaml:19: RequestAuthentication/default/jwt: spec.jwtRules[1].outputClaimToHeaders[2].header: duplicate header "X-A"`,
			`t.yaml:21: RequestAuthentication/default/jwt: spec.jwtRules[2].jwksUri: invalid URL "https://": no host`,
			`t.yaml:21: warning: RequestAuthentication/default/jwt: spec.jwtRules[2].jwksUri: jwks is set: jwksUri is not used`,
			`t.yaml:22: RequestAuthentication/default/jwt: spec.jwtRules[2].jwks: jwk: key 0 (kid ""): EC point: P256 point not on curve`,
		}},
	})
	snap, diags := Parse("t.yaml", []byte(`
apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: {name: r, namespace: ns}
spec:
  jwtRules: [{issuer: i, jwksUri: "http://127.0.0.1:1/jwks"}]
`))
	if snap == nil || len(snap.RequestAuthentications) != 1 || len(snap.NotApplied) != 0 || len(diags) != 0 {
		t.Fatalf("snapshot %+v, diagnostics %v", snap, diags)
	}
	if ra := snap.RequestAuthentications[0]; ra.Name != "r" || ra.Namespace != "ns" || ra.Spec.GetJwtRules()[0].GetIssuer() != "i" {
		t.Errorf("RequestAuthentication = %+v", ra)
	}
}
