package config

import "testing"

func TestAuthorizationPolicyValidation(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "a valid policy loads clean", in: `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ok
  namespace: foo
spec:
  selector:
    matchLabels: {app: reviews}
  action: DENY
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/foo/sa/sleep"]
        ipBlocks: ["10.0.0.0/8", "192.168.1.1"]
    to:
    - operation:
        methods: ["POST"]
        paths: ["/admin*"]
        ports: ["9080"]
    when:
    - key: request.headers[x-user]
      values: ["alice"]
    - key: request.auth.claims[groups][nested]
      notValues: ["guests"]
`, want: nil},
		{name: "bad input is reported with its field", in: `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: bad
  namespace: foo
spec:
  rules:
  - from:
    - source:
        ipBlocks: ["10.0.0.0/33"]
        notRemoteIpBlocks: ["nope"]
    - source: {}
    to:
    - operation:
        ports: ["http"]
        paths: ["/api/{*}/x"]
    when:
    - key: request.time
      values: ["x"]
    - key: request.headers
      values: ["x"]
    - key: source.ip
      values: ["1.2.3"]
    - key: connection.sni
`, want: []string{
			`t.yaml:10: AuthorizationPolicy/foo/bad: spec.rules[0].from[0].source.ipBlocks[0]: invalid CIDR "10.0.0.0/33"`,
			`t.yaml:11: AuthorizationPolicy/foo/bad: spec.rules[0].from[0].source.notRemoteIpBlocks[0]: invalid IP address "nope"`,
			`t.yaml:12: AuthorizationPolicy/foo/bad: spec.rules[0].from[1].source: from.source must not be empty`,
			`t.yaml:15: AuthorizationPolicy/foo/bad: spec.rules[0].to[0].operation.ports[0]: invalid port "http": must be a number in 1..65535`,
			`t.yaml:16: warning: AuthorizationPolicy/foo/bad: spec.rules[0].to[0].operation.paths[0]: path templates ({*}, {**}) are not supported: "/api/{*}/x" is matched literally`,
			`t.yaml:18: AuthorizationPolicy/foo/bad: spec.rules[0].when[0].key: unknown key "request.time"`,
			`t.yaml:20: AuthorizationPolicy/foo/bad: spec.rules[0].when[1].key: invalid key "request.headers": request.headers takes one [name]`,
			`t.yaml:23: AuthorizationPolicy/foo/bad: spec.rules[0].when[2].values[0]: invalid IP address "1.2.3"`,
			`t.yaml:24: AuthorizationPolicy/foo/bad: spec.rules[0].when[3]: at least one of values or notValues must be set for key "connection.sni"`,
		}},
		{name: "CUSTOM is not supported, targetRefs not applied", in: `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ext
spec:
  action: CUSTOM
  provider: {name: my-ext-authz}
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: both
spec:
  selector: {matchLabels: {app: x}}
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}]
  action: DENY
  provider: {name: p}
`, want: []string{
			`t.yaml:6: warning: AuthorizationPolicy/default/ext: spec.action: CUSTOM (external authorization) is not supported: the policy is ignored`,
			`t.yaml:7: warning: AuthorizationPolicy/default/ext: spec.provider: field not yet supported; ignored`,
			`t.yaml:14: AuthorizationPolicy/default/both: spec: only one of selector or targetRef(s) may be set`,
			`t.yaml:16: warning: AuthorizationPolicy/default/both: spec.targetRefs: field not yet supported; ignored`,
			`t.yaml:18: AuthorizationPolicy/default/both: spec.provider: a provider is only allowed with action CUSTOM, not DENY`,
			`t.yaml:18: warning: AuthorizationPolicy/default/both: spec.provider: field not yet supported; ignored`,
		}},
	})
}
