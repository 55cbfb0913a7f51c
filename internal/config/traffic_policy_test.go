package config

import "testing"

// drHead opens a DestinationRule for reviews (with its Service) whose
// traffic policy follows.
const drHead = svcReviews + `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: r
spec:
  host: reviews
`

// TestValidateTrafficPolicy: invalid load balancer, connection pool,
// outlier detection and tls settings are errors with their field path, at top
// level, in port-level settings and in subsets.
func TestValidateTrafficPolicy(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "load balancer", in: drHead + `
  trafficPolicy:
    loadBalancer:
      consistentHash:
        httpCookie: {path: /}
        minimumRingSize: 10
        maglev: {tableSize: 65536}
    portLevelSettings:
    - loadBalancer: {consistentHash: {maglev: {}}}
    - port: {number: 9080}
  subsets:
  - name: v1
    trafficPolicy:
      loadBalancer: {consistentHash: {}}
`, want: []string{
			`t.yaml:22: DestinationRule/default/r: spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name: missing required field`,
			`t.yaml:23: warning: DestinationRule/default/r: spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize: deprecated: use ringHash.minimumRingSize instead`,
			`t.yaml:23: DestinationRule/default/r: spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize: only one of minimumRingSize, ringHash or maglev may be set`,
			`t.yaml:24: DestinationRule/default/r: spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: tableSize 65536 must be a prime number for maglev`,
			`t.yaml:26: DestinationRule/default/r: spec.trafficPolicy.portLevelSettings[0].port: missing required field`,
			`t.yaml:26: warning: DestinationRule/default/r: spec.trafficPolicy.portLevelSettings[0].loadBalancer.consistentHash: no hash key (httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName): requests are hashed at random`,
			`t.yaml:26: DestinationRule/default/r: spec.trafficPolicy.portLevelSettings[0].loadBalancer.consistentHash.maglev.tableSize: tableSize must be set for maglev`,
			`t.yaml:27: DestinationRule/default/r: spec.trafficPolicy.portLevelSettings[1]: a port traffic policy must have at least one field`,
			`t.yaml:31: warning: DestinationRule/default/r: spec.subsets[0].trafficPolicy.loadBalancer.consistentHash: no hash key (httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName): requests are hashed at random`,
		}},
		{name: "consistentHash with two keys", in: drHead + `
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpHeaderName: x-user, httpQueryParameterName: user}
`, want: []string{
			`t.yaml:21: DestinationRule/default/r: spec.trafficPolicy.loadBalancer.consistentHash.httpQueryParameterName: only one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName may be set (httpHeaderName is set too)`,
		}},
		{name: "connection pool", in: drHead + `
  trafficPolicy:
    connectionPool: {}
    portLevelSettings:
    - port: {number: 9080}
      connectionPool:
        tcp: {maxConnections: -1, connectTimeout: 0s, idleTimeout: 0s, tcpKeepalive: {time: 0.5ms}}
        http: {http1MaxPendingRequests: -1, http2MaxRequests: -2, maxRequestsPerConnection: -3, maxRetries: -4,
               idleTimeout: 1us, h2UpgradePolicy: UPGRADE, useClientProtocol: true}
`, want: []string{
			`t.yaml:20: DestinationRule/default/r: spec.trafficPolicy.connectionPool: a connection pool must have http or tcp settings`,
			`t.yaml:24: DestinationRule/default/r: spec.trafficPolicy.portLevelSettings[0].connectionPool.tcp.maxConnections: -1 must not be negative`,
			`t.yaml:24: DestinationRule/default/r: spec.trafficPolicy.portLevelSettings[0].connectionPool.tcp.connectTimeout: duration 0s must be at least 1ms`,
			`t.yaml:24: DestinationRule/default/r: spec.trafficPolicy.portLevelSettings[0].connectionPool.tcp.tcpKeepalive.time: duration 500µs must be at least 1ms`,
			`t.yaml:25: DestinationRule/default/r: spec.trafficPolicy.portLevelSettings[0].connectionPool.http.http1MaxPendingRequests: -1 must not be negative`,
			`t.yaml:25: DestinationRule/default/r: spec.trafficPolicy.portLevelSettings[0].connectionPool.http.http2MaxRequests: -2 must not be negative`,
			`t.yaml:25: DestinationRule/default/r: spec.trafficPolicy.portLevelSettings[0].connectionPool.http.maxRequestsPerConnection: -3 must not be negative`,
			`t.yaml:25: DestinationRule/default/r: spec.trafficPolicy.portLevelSettings[0].connectionPool.http.maxRetries: -4 must not be negative`,
			`t.yaml:26: DestinationRule/default/r: spec.trafficPolicy.portLevelSettings[0].connectionPool.http.idleTimeout: duration 1µs must be at least 1ms`,
			`t.yaml:26: DestinationRule/default/r: spec.trafficPolicy.portLevelSettings[0].connectionPool.http.useClientProtocol: useClientProtocol must not be true when h2UpgradePolicy is UPGRADE`,
			`t.yaml:26: warning: DestinationRule/default/r: spec.trafficPolicy.portLevelSettings[0].connectionPool.http.useClientProtocol: field not yet supported; ignored`,
		}},
		{name: "outlier detection", in: drHead + `
  trafficPolicy:
    outlierDetection:
      consecutiveLocalOriginFailures: 3
      interval: 0s
      baseEjectionTime: 1.0005s
      maxEjectionPercent: 101
      minHealthPercent: -1
`, want: []string{
			`t.yaml:21: DestinationRule/default/r: spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures: consecutiveLocalOriginFailures needs splitExternalLocalOriginErrors: true`,
			`t.yaml:22: DestinationRule/default/r: spec.trafficPolicy.outlierDetection.interval: duration 0s must be at least 1ms`,
			`t.yaml:23: DestinationRule/default/r: spec.trafficPolicy.outlierDetection.baseEjectionTime: duration 1.0005s: only millisecond precision is supported`,
			`t.yaml:24: DestinationRule/default/r: spec.trafficPolicy.outlierDetection.maxEjectionPercent: percentage 101 must be in the range 0..100`,
			`t.yaml:25: DestinationRule/default/r: spec.trafficPolicy.outlierDetection.minHealthPercent: percentage -1 must be in the range 0..100`,
		}},
		{name: "client tls", in: drHead + `
  trafficPolicy:
    tls: {mode: MUTUAL, caCertificates: /ca.pem}
    portLevelSettings:
    - port: {number: 9080}
      tls: {mode: SIMPLE, caCertificates: /ca.pem, insecureSkipVerify: true}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      tls: {mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem, subjectAltNames: [a], insecureSkipVerify: true}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      tls: {mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem, credentialName: c}
`, want: []string{
			`t.yaml:20: DestinationRule/default/r: spec.trafficPolicy.tls.clientCertificate: client certificate required for mutual tls`,
			`t.yaml:20: DestinationRule/default/r: spec.trafficPolicy.tls.privateKey: private key required for mutual tls`,
			`t.yaml:23: DestinationRule/default/r: spec.trafficPolicy.portLevelSettings[0].tls.insecureSkipVerify: cannot specify caCertificates, credentialName or subjectAltNames when insecureSkipVerify is true`,
			`t.yaml:28: DestinationRule/default/r: spec.subsets[0].trafficPolicy.tls.insecureSkipVerify: cannot specify caCertificates or subjectAltNames when insecureSkipVerify is true`,
			`t.yaml:32: warning: DestinationRule/default/r: spec.subsets[1].trafficPolicy.tls.credentialName: field has no effect when running locally; ignored`,
		}},
	})
}

// TestValidateL4Routes: tcp and tls rules as Istio validates them.
func TestValidateL4Routes(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "tcp and tls", in: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: r
spec:
  hosts: [db, "*.example.com"]
  tcp:
  - match:
    - {destinationSubnets: [10.0.0.0/33], port: 0}
    - {port: 70000, sourceLabels: {"bad key!": x}, gateways: [a/b/c]}
  - route:
    - {destination: {host: db}, weight: 0}
    - {destination: {host: db}, weight: 0}
  tls:
  - route:
    - destination: {host: db}
  - match:
    - sniHosts: []
    - sniHosts: [a.example.com, other.org, "*.b.example.com", 10.0.0.1, bad_host]
    route:
    - destination: {host: db, subset: v9}
`, want: []string{
			`t.yaml:8: VirtualService/default/r: spec.tcp[0].route: a route is required`,
			`t.yaml:9: VirtualService/default/r: spec.tcp[0].match[0].destinationSubnets[0]: "10.0.0.0/33" is not an IP address or CIDR prefix`,
			`t.yaml:9: warning: VirtualService/default/r: spec.tcp[0].match[0].destinationSubnets: field not yet supported; ignored`,
			`t.yaml:10: VirtualService/default/r: spec.tcp[0].match[1].port: port number 70000 must be in the range 1..65535`,
			`t.yaml:10: VirtualService/default/r: spec.tcp[0].match[1].sourceLabels[bad key!]: invalid label key "bad key!": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
			`t.yaml:10: VirtualService/default/r: spec.tcp[0].match[1].gateways[0]: invalid gateway "a/b/c": want namespace/name`,
			`t.yaml:11: VirtualService/default/r: spec.tcp[1].route: total destination weight is 0: give at least one destination a weight`,
			`t.yaml:15: VirtualService/default/r: spec.tls[0].match: a TLS route needs at least one match`,
			`t.yaml:18: VirtualService/default/r: spec.tls[1].match[0].sniHosts: a TLS match needs at least one SNI host`,
			`t.yaml:19: VirtualService/default/r: spec.tls[1].match[1].sniHosts[1]: SNI host "other.org" is not covered by any of the VirtualService's hosts (db, *.example.com)`,
			`t.yaml:19: VirtualService/default/r: spec.tls[1].match[1].sniHosts[3]: SNI host "10.0.0.1" is not covered by any of the VirtualService's hosts (db, *.example.com)`,
			`t.yaml:19: VirtualService/default/r: spec.tls[1].match[1].sniHosts[4]: invalid host "bad_host": label "bad_host" is not a DNS label`,
			`t.yaml:21: warning: VirtualService/default/r: spec.tls[1].route[0].destination.subset: subset "v9" is not defined by any DestinationRule for host db.default.svc.cluster.local`,
		}},
	})
}
