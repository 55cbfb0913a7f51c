package config

import (
	"strings"
	"testing"
)

func TestUnsupportedFieldWarnings(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "once per field occurrence, at the root of an unsupported subtree", in: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  gateways: [mesh]
  http:
  - match:
    - uri: {prefix: /a}
      statPrefix: a
    route:
    - destination: {host: reviews}
      headers:
        request:
          set: {x: y}
    retries:
      attempts: 3
      perTryTimeout: 2s
  - redirect:
      uri: /b
      prefixRewrite: /c
  tcp:
  - match:
    - destinationSubnets: [10.0.0.0/8]
      sourceSubnet: 10.1.0.0/16
    - destinationSubnets: [10.2.0.0/16]
    route:
    - destination: {host: reviews}
`, want: []string{
			`t.yaml:11: warning: VirtualService/default/reviews: spec.http[0].match[0].statPrefix: field not yet supported; ignored`,
			`t.yaml:22: warning: VirtualService/default/reviews: spec.http[1].redirect.prefixRewrite: field not yet supported; ignored`,
			`t.yaml:25: warning: VirtualService/default/reviews: spec.tcp[0].match[0].destinationSubnets: field not yet supported; ignored`,
			`t.yaml:26: warning: VirtualService/default/reviews: spec.tcp[0].match[0].sourceSubnet: field not yet supported; ignored`,
			`t.yaml:27: warning: VirtualService/default/reviews: spec.tcp[0].match[1].destinationSubnets: field not yet supported; ignored`,
		}},
		{name: "partly supported messages: only the unsupported part is warned", in: svcReviews + `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  trafficPolicy:
    loadBalancer:
      simple: RANDOM
      localityLbSetting: {enabled: true}
    connectionPool:
      tcp: {maxConnections: 10, maxConnectionDuration: 1h}
    tls: {mode: SIMPLE, caCrl: /etc/crl.pem}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      loadBalancer:
        consistentHash: {httpHeaderName: x-user}
        warmupDurationSecs: 10s
`, want: []string{
			`t.yaml:21: warning: DestinationRule/default/reviews: spec.trafficPolicy.loadBalancer.localityLbSetting: field not yet supported; ignored`,
			`t.yaml:23: warning: DestinationRule/default/reviews: spec.trafficPolicy.connectionPool.tcp.maxConnectionDuration: field not yet supported; ignored`,
			`t.yaml:24: warning: DestinationRule/default/reviews: spec.trafficPolicy.tls.caCrl: field not yet supported; ignored`,
			`t.yaml:31: warning: DestinationRule/default/reviews: spec.subsets[0].trafficPolicy.loadBalancer.warmupDurationSecs: field not yet supported; ignored`,
		}},
		{name: "Kubernetes fields with no effect locally; empty and null values are not set", in: `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews
  creationTimestamp: null
  uid: 1d2b6c1e-0000-0000-0000-000000000000
spec:
  selector: {matchLabels: {app: reviews}}
  strategy: {}
  template:
    metadata:
      labels: {app: reviews}
    spec:
      restartPolicy: Always
      containers:
      - name: reviews
        command: [reviews]
        resources: {}
        imagePullPolicy: IfNotPresent
        env:
        - name: A
          valueFrom:
            fieldRef: {fieldPath: metadata.name}
        livenessProbe:
          tcpSocket: {port: 80}
      - name: ratings
        command: [ratings]
        imagePullPolicy: Always
status: {}
`, want: []string{
			`t.yaml:6: warning: Deployment/default/reviews: metadata.uid: field has no effect when running locally; ignored`,
			`t.yaml:14: warning: Deployment/default/reviews: spec.template.spec.restartPolicy: field has no effect when running locally; ignored`,
			`t.yaml:19: warning: Deployment/default/reviews: spec.template.spec.containers[0].imagePullPolicy: field has no effect when running locally; ignored`,
			`t.yaml:22: warning: Deployment/default/reviews: spec.template.spec.containers[0].env[0].valueFrom: field not yet supported; ignored`,
			`t.yaml:24: warning: Deployment/default/reviews: spec.template.spec.containers[0].livenessProbe: field not yet supported; ignored`,
			`t.yaml:28: warning: Deployment/default/reviews: spec.template.spec.containers[1].imagePullPolicy: field has no effect when running locally; ignored`,
		}},
	})
}

func TestSupportTablePaths(t *testing.T) {
	for _, tc := range []struct {
		path, ancestor string
		want           bool
	}{
		{"a.b", "a", true}, {"a.b[]", "a.b", true}, {"a.b[].c", "a.b[]", true},
		{"a.bc", "a.b", false}, {"a.b", "a.b", false}, {"a", "a.b", false},
	} {
		if got := isUnder(tc.path, tc.ancestor); got != tc.want {
			t.Errorf("isUnder(%q, %q) = %v", tc.path, tc.ancestor, got)
		}
	}
	// Every rule must name a field the schema has: a typo in a table
	// would otherwise silently support nothing.
	for _, kr := range append(kindRules, struct {
		kind  string
		rules []fieldRule
	}{"Service", commonRules}) {
		ki := lookupKind(groupOfApplied(kr.kind), kr.kind)
		known := map[string]bool{}
		collectPatterns(rootSchema(ki), "", known)
		for _, r := range kr.rules {
			if !known[r.path] {
				t.Errorf("%s: rule %q names no field", kr.kind, r.path)
			}
		}
	}
}

// collectPatterns lists the field patterns of a schema, a few levels deep.
func collectPatterns(s schemaType, prefix string, out map[string]bool) {
	if strings.Count(prefix, ".") > 8 {
		return
	}
	for _, f := range s.fields() {
		p := f.name
		if prefix != "" {
			p = prefix + "." + f.name
		}
		out[p] = true
		if f.child != nil {
			collectPatterns(f.child, p+f.suffix, out)
		}
	}
}
