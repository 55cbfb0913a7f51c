package config

import "testing"

// vsHTTP opens a VirtualService for reviews whose http rules follow.
const vsHTTP = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: r
spec:
  hosts: [reviews]
  http:
`

// TestValidateHTTPTraffic: invalid traffic features are errors (or, where
// Istio only warns, warnings), with the file, the line and the field path.
func TestValidateHTTPTraffic(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "conflicts", in: vsHTTP + `
  - match: [{uri: {prefix: /a}}]
    redirect: {uri: /b}
    fault: {abort: {httpStatus: 500}}
    rewrite: {uri: /c}
    timeout: 1s
  - match: [{uri: {prefix: /d}}]
    directResponse: {status: 200}
    route:
    - destination: {host: reviews}
    retries: {attempts: 1}
  - match: [{uri: {prefix: /e}}]
    mirror: {host: reviews}
    mirrors: [{destination: {host: reviews}}]
    route:
    - destination: {host: reviews}
`, want: []string{
			`t.yaml:11: VirtualService/default/r: spec.http[0].fault: fault and redirect cannot both be set`,
			`t.yaml:12: VirtualService/default/r: spec.http[0].rewrite: rewrite and redirect cannot both be set`,
			`t.yaml:13: warning: VirtualService/default/r: spec.http[0].timeout: has no effect: the rule answers itself (redirect or directResponse) instead of forwarding`,
			`t.yaml:16: VirtualService/default/r: spec.http[1].route: route and directResponse cannot both be set`,
			`t.yaml:18: warning: VirtualService/default/r: spec.http[1].retries: has no effect: the rule answers itself (redirect or directResponse) instead of forwarding`,
			`t.yaml:21: VirtualService/default/r: spec.http[2].mirrors: mirror and mirrors cannot both be set`,
		}},
		{name: "timeouts and retries", in: vsHTTP + `
  - match: [{uri: {prefix: /a}}]
    timeout: 0s
    retries: {attempts: -1, perTryTimeout: 1500us}
    route:
    - destination: {host: reviews}
  - match: [{uri: {prefix: /b}}]
    timeout: -1s
    retries: {attempts: 0, retryOn: 5xx}
    route:
    - destination: {host: reviews}
  - retries: {attempts: 2, retryOn: "5xx, reset,999,retriable-status-codes,409", backoff: 0s}
    route:
    - destination: {host: reviews}
`, want: []string{
			`t.yaml:10: VirtualService/default/r: spec.http[0].timeout: duration 0s must be at least 1ms`,
			`t.yaml:11: VirtualService/default/r: spec.http[0].retries.attempts: attempts -1 must not be negative`,
			`t.yaml:11: VirtualService/default/r: spec.http[0].retries.perTryTimeout: duration 1.5ms: only millisecond precision is supported`,
			`t.yaml:15: VirtualService/default/r: spec.http[1].timeout: duration -1s must be at least 1ms`,
			`t.yaml:16: VirtualService/default/r: spec.http[1].retries: retry policy configured while attempts is 0 (retries disabled)`,
			`t.yaml:19: VirtualService/default/r: spec.http[2].retries.backoff: duration 0s must be at least 1ms`,
			`t.yaml:19: VirtualService/default/r: spec.http[2].retries.retryOn: " reset" is not a valid retryOn policy: want Envoy retry conditions (5xx, reset, connect-failure, ...) or HTTP status codes`,
			`t.yaml:19: VirtualService/default/r: spec.http[2].retries.retryOn: "999" is not a valid retryOn policy: want Envoy retry conditions (5xx, reset, connect-failure, ...) or HTTP status codes`,
		}},
		{name: "faults", in: vsHTTP + `
  - match: [{uri: {prefix: /a}}]
    fault: {}
    route:
    - destination: {host: reviews}
  - match: [{uri: {prefix: /b}}]
    fault:
      abort: {httpStatus: 600, percentage: {value: 101}}
      delay: {exponentialDelay: 1s}
    route:
    - destination: {host: reviews}
  - match: [{uri: {prefix: /c}}]
    fault:
      abort: {grpcStatus: NOPE}
      delay: {fixedDelay: 0s, percentage: {value: 0.00001}}
    route:
    - destination: {host: reviews}
  - fault:
      abort: {http2Error: CANCEL}
      delay: {percentage: {value: 5}}
    route:
    - destination: {host: reviews}
`, want: []string{
			`t.yaml:10: VirtualService/default/r: spec.http[0].fault: a fault needs an abort, a delay or both`,
			`t.yaml:15: VirtualService/default/r: spec.http[1].fault.abort.percentage: percentage 101 must be 0 or in the range 0.0001..100`,
			`t.yaml:15: VirtualService/default/r: spec.http[1].fault.abort.httpStatus: HTTP status 600 is not in the range 200..599`,
			`t.yaml:16: VirtualService/default/r: spec.http[1].fault.delay.exponentialDelay: exponentialDelay is not supported (as in Istio)`,
			`t.yaml:21: VirtualService/default/r: spec.http[2].fault.abort.grpcStatus: unknown gRPC status "NOPE": want a name such as UNAVAILABLE or NOT_FOUND`,
			`t.yaml:22: VirtualService/default/r: spec.http[2].fault.delay.percentage: percentage 1e-05 must be 0 or in the range 0.0001..100`,
			`t.yaml:22: VirtualService/default/r: spec.http[2].fault.delay.fixedDelay: duration 0s must be at least 1ms`,
			`t.yaml:26: VirtualService/default/r: spec.http[3].fault.abort.http2Error: HTTP/2 abort faults are not supported (as in Istio)`,
			`t.yaml:27: warning: VirtualService/default/r: spec.http[3].fault.delay: delay has no fixedDelay: nothing is delayed`,
		}},
		{name: "mirrors", in: vsHTTP + `
  - match: [{uri: {prefix: /a}}]
    mirror: {host: "*"}
    mirrorPercentage: {value: 150}
    route:
    - destination: {host: reviews}
  - match: [{uri: {prefix: /b}}]
    mirror: {host: reviews}
    mirrorPercent: 120
    route:
    - destination: {host: reviews}
  - mirrors:
    - percentage: {value: 10}
    - destination: {host: reviews, subset: V2}
      percentage: {value: -1}
    route:
    - destination: {host: reviews}
`, want: []string{
			`t.yaml:10: VirtualService/default/r: spec.http[0].mirror.host: invalid destination host *`,
			`t.yaml:11: VirtualService/default/r: spec.http[0].mirrorPercentage: percentage 150 must be 0 or in the range 0.0001..100`,
			`t.yaml:16: VirtualService/default/r: spec.http[1].mirrorPercent: percentage 120 must be in the range 0..100`,
			`t.yaml:16: warning: VirtualService/default/r: spec.http[1].mirrorPercent: deprecated: use "mirrorPercentage" instead`,
			`t.yaml:20: VirtualService/default/r: spec.http[2].mirrors[0].destination: missing required field`,
			`t.yaml:21: VirtualService/default/r: spec.http[2].mirrors[1].destination.subset: invalid subset name "V2": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
			`t.yaml:21: warning: VirtualService/default/r: spec.http[2].mirrors[1].destination.subset: subset "V2" is not defined by any DestinationRule for host reviews.default.svc.cluster.local`,
			`t.yaml:22: VirtualService/default/r: spec.http[2].mirrors[1].percentage: percentage -1 must be 0 or in the range 0.0001..100`,
		}},
		{name: "redirects, direct responses and rewrites", in: vsHTTP + `
  - match: [{uri: {prefix: /a}}]
    redirect: {redirectCode: 200}
  - match: [{uri: {prefix: /b}}]
    redirect: {uri: /c, redirectCode: 305, scheme: ftp}
  - match: [{uri: {prefix: /d}}]
    redirect: {port: 70000}
  - match: [{uri: {prefix: /e}}]
    directResponse: {status: 99}
  - match: [{uri: {prefix: /f}}]
    rewrite: {}
    route:
    - destination: {host: reviews}
  - match: [{uri: {prefix: /g}}]
    rewrite: {uri: /h, uriRegexRewrite: {match: "(", rewrite: x}}
    route:
    - destination: {host: reviews}
  - rewrite: {uriRegexRewrite: {match: a}}
    route:
    - destination: {host: reviews}
`, want: []string{
			`t.yaml:10: VirtualService/default/r: spec.http[0].redirect: a redirect needs uri, authority, scheme or port`,
			`t.yaml:10: VirtualService/default/r: spec.http[0].redirect.redirectCode: 200 is not a redirect code (3xx)`,
			`t.yaml:12: VirtualService/default/r: spec.http[1].redirect.redirectCode: redirect code 305 is not supported: Envoy redirects with 301, 302, 303, 307 or 308`,
			`t.yaml:12: VirtualService/default/r: spec.http[1].redirect.scheme: invalid redirect scheme "ftp": must be "http" or "https"`,
			`t.yaml:14: VirtualService/default/r: spec.http[2].redirect.port: port number 70000 must be in the range 1..65535`,
			`t.yaml:16: VirtualService/default/r: spec.http[3].directResponse.status: HTTP status 99 is not in the range 200..599`,
			`t.yaml:18: VirtualService/default/r: spec.http[4].rewrite: a rewrite needs uri, uriRegexRewrite or authority`,
			`t.yaml:22: VirtualService/default/r: spec.http[5].rewrite: rewrite may only contain one of uri or uriRegexRewrite`,
			"t.yaml:22: VirtualService/default/r: spec.http[5].rewrite.uriRegexRewrite.match: invalid RE2 regex: error parsing regexp: missing closing ): `(`",
			`t.yaml:25: VirtualService/default/r: spec.http[6].rewrite.uriRegexRewrite: uriRegexRewrite needs both match and rewrite`,
		}},
		{name: "headers and CORS", in: vsHTTP + `
  - match: [{uri: {prefix: /a}}]
    rewrite: {authority: a.example.com}
    headers:
      request:
        set: {":authority": b.example.com, ":path": /x, "": v}
        add: {x-a: "50%"}
        remove: [host]
      response:
        set: {host: h}
        remove: [":status"]
    route:
    - destination: {host: reviews}
      headers:
        response: {add: {x-b: "a\u0001b"}}
  - corsPolicy:
      allowOrigins: [{exact: ""}, {regex: "("}]
      allowMethods: [GET, get, FETCH]
      allowHeaders: ["*", "bad header"]
      exposeHeaders: ["x(y)"]
      maxAge: 1500ms
    route:
    - destination: {host: reviews}
`, want: []string{
			`t.yaml:13: VirtualService/default/r: spec.http[0].headers.request.set[]: header name cannot be empty`,
			`t.yaml:13: VirtualService/default/r: spec.http[0].headers.request.set[:path]: invalid header ":path": pseudo-headers (":" prefix) cannot be changed`,
			`t.yaml:13: VirtualService/default/r: spec.http[0].headers.request.set[:authority]: the authority is already rewritten by spec.http[0].rewrite.authority: it can be set only once`,
			`t.yaml:14: VirtualService/default/r: spec.http[0].headers.request.add[x-a]: header value "50%": a single % is not allowed; write %% or enclose an Envoy variable in a pair of %`,
			`t.yaml:15: VirtualService/default/r: spec.http[0].headers.request.remove[0]: invalid header "host": the Host header cannot be changed here`,
			`t.yaml:17: VirtualService/default/r: spec.http[0].headers.response.set[host]: invalid header "host": the Host header cannot be changed here`,
			`t.yaml:18: VirtualService/default/r: spec.http[0].headers.response.remove[0]: invalid header ":status": pseudo-headers (":" prefix) cannot be changed`,
			`t.yaml:22: VirtualService/default/r: spec.http[0].route[0].headers.response.add[x-b]: header value "a\x01b" has control characters`,
			`t.yaml:24: VirtualService/default/r: spec.http[1].corsPolicy.allowOrigins[0]: an origin match needs a non-empty exact, prefix or regex`,
			"t.yaml:24: VirtualService/default/r: spec.http[1].corsPolicy.allowOrigins[1].regex: invalid RE2 regex: error parsing regexp: missing closing ): `(`",
			`t.yaml:25: VirtualService/default/r: spec.http[1].corsPolicy.allowMethods[1]: "get" is not a supported HTTP method`,
			`t.yaml:25: VirtualService/default/r: spec.http[1].corsPolicy.allowMethods[2]: "FETCH" is not a supported HTTP method`,
			`t.yaml:26: VirtualService/default/r: spec.http[1].corsPolicy.allowHeaders[1]: invalid header name "bad header"`,
			`t.yaml:27: VirtualService/default/r: spec.http[1].corsPolicy.exposeHeaders[0]: invalid header name "x(y)"`,
			`t.yaml:28: VirtualService/default/r: spec.http[1].corsPolicy.maxAge: maxAge is accurate only to seconds`,
		}},
	})
}
