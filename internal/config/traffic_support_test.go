package config

import "testing"

// TestTrafficFieldsSupported: the traffic features the translation acts on
// (docs/ARCHITECTURE.md, "Traffic policy") get no "not yet supported"
// warning, and valid values no diagnostic at all.
func TestTrafficFieldsSupported(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "VirtualService http, tcp and tls features", in: svcReviews + `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews, reviews.example.com]
  http:
  - name: all
    match:
    - uri: {prefix: /a}
    timeout: 2s
    retries: {attempts: 3, perTryTimeout: 1s, retryOn: "5xx,503", retryRemoteLocalities: true, retryIgnorePreviousHosts: false, backoff: 30ms}
    fault:
      delay: {fixedDelay: 1s, percentage: {value: 10}}
      abort: {grpcStatus: UNAVAILABLE, percentage: {value: 0.5}}
    mirror: {host: reviews, port: {number: 9080}}
    mirrorPercentage: {value: 50}
    rewrite: {uri: /b, authority: b.example.com}
    headers:
      request: {set: {x-a: "1"}, add: {x-b: "2"}, remove: [x-c]}
      response: {set: {x-d: "100%%"}, add: {x-e: "%HOSTNAME%"}, remove: [x-f]}
    corsPolicy:
      allowOrigins: [{exact: https://a.example.com}, {regex: "https://.*"}]
      allowMethods: [GET, POST]
      allowHeaders: ["*"]
      exposeHeaders: [x-request-id]
      maxAge: 1h
      allowCredentials: false
      unmatchedPreflights: FORWARD
    route:
    - destination: {host: reviews}
      headers: {request: {set: {host: r.example.com}}}
  - name: mirrors
    match:
    - uri: {prefix: /m}
    mirrors:
    - destination: {host: reviews}
      percentage: {value: 1}
    route:
    - destination: {host: reviews}
  - name: regex
    match:
    - uri: {prefix: /r}
    rewrite: {uriRegexRewrite: {match: "^/r/(.*)$", rewrite: "/\\1"}}
    route:
    - destination: {host: reviews}
  - name: redirect
    match:
    - uri: {prefix: /old}
    redirect: {uri: /new, authority: a.example.com, port: 8443, scheme: https, redirectCode: 307}
  - name: derive
    match:
    - uri: {prefix: /here}
    redirect: {uri: /there, derivePort: FROM_REQUEST_PORT}
  - name: direct
    directResponse: {status: 503, body: {string: unavailable}}
  tcp:
  - match:
    - {port: 9080, sourceLabels: {app: a}, sourceNamespace: default, gateways: [mesh]}
    route:
    - {destination: {host: reviews}, weight: 1}
  tls:
  - match:
    - {sniHosts: [reviews.example.com], port: 443, sourceLabels: {app: a}, sourceNamespace: default, gateways: [mesh]}
    route:
    - destination: {host: reviews}
`},
		{name: "DestinationRule traffic policies", in: svcReviews + `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpCookie: {name: c, path: /, ttl: 10s}, ringHash: {minimumRingSize: 4096}}
    connectionPool:
      tcp: {maxConnections: 1, connectTimeout: 1s, tcpKeepalive: {probes: 1, time: 1s, interval: 1s}, idleTimeout: 0s}
      http: {http1MaxPendingRequests: 1, http2MaxRequests: 1, maxRequestsPerConnection: 1, maxRetries: 1, idleTimeout: 1s, h2UpgradePolicy: UPGRADE}
    outlierDetection:
      consecutive5xxErrors: 1
      consecutiveGatewayErrors: 1
      interval: 1s
      baseEjectionTime: 1s
      maxEjectionPercent: 100
      minHealthPercent: 0
      splitExternalLocalOriginErrors: true
      consecutiveLocalOriginFailures: 1
    portLevelSettings:
    - port: {number: 9080}
      loadBalancer: {consistentHash: {maglev: {tableSize: 65537}, httpQueryParameterName: q}}
      connectionPool: {tcp: {maxConnections: 2}}
      outlierDetection: {consecutive5xxErrors: 2}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      loadBalancer: {simple: PASSTHROUGH}
      connectionPool: {http: {maxRetries: 2}}
      outlierDetection: {interval: 2s}
      portLevelSettings:
      - port: {number: 9080}
        loadBalancer: {consistentHash: {useSourceIp: true}}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer: {consistentHash: {httpHeaderName: x-user}}
`},
	})
}
