package config

import "testing"

func TestValidateVirtualService(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "hosts", in: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: r
spec:
  hosts: ["*", "reviews", "reviews", "bad_host", "*.example.com", "a.example.com"]
  http:
  - route:
    - destination: {host: reviews}
`, want: []string{
			`t.yaml:6: VirtualService/default/r: spec.hosts[0]: wildcard host * is not allowed for VirtualServices bound to the mesh`,
			`t.yaml:6: VirtualService/default/r: spec.hosts[3]: invalid host "bad_host": label "bad_host" is not a DNS label`,
		}},
		{name: "duplicate hosts", in: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: r
spec:
  hosts: [reviews, reviews, "*.example.com", a.example.com, 10.0.0.1]
  http:
  - route:
    - destination: {host: reviews}
`, want: []string{
			`t.yaml:6: VirtualService/default/r: spec.hosts[1]: duplicate host reviews (overlaps spec.hosts[0] reviews)`,
			`t.yaml:6: VirtualService/default/r: spec.hosts[3]: duplicate host a.example.com (overlaps spec.hosts[2] *.example.com)`,
		}},
		{name: "gateways only", in: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: r
spec:
  hosts: ["*"]
  gateways: [istio-system/ingress, "bad/gate/way"]
  http:
  - route:
    - destination: {host: reviews}
`, want: []string{
			`t.yaml:7: VirtualService/default/r: spec.gateways[1]: invalid gateway "bad/gate/way": want namespace/name`,
			`t.yaml:7: warning: VirtualService/default/r: spec.gateways: "mesh" is not listed: this VirtualService applies only to gateways, which Halyard does not run yet`,
		}},
		{name: "rules", in: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: r
spec:
  hosts: [reviews]
  http:
  - name: a
    match:
    - name: m
      uri: {}
      headers:
        "bad header": {exact: x}
        x-user: {}
    - name: m
      uri: {regex: ""}
  - name: a
    match:
    - uri: {}
      headers:
        x-user: {}
    route:
    - destination: {host: "*", subset: V1, port: {number: 0}}
  - redirect: {uri: /b}
    route:
    - destination: {host: reviews}
  - route:
    - destination: {host: reviews}
`, want: []string{
			`t.yaml:8: VirtualService/default/r: spec.http[0].route: a route (or redirect, or directResponse) is required`,
			`t.yaml:11: warning: VirtualService/default/r: spec.http[0].match[0].uri: empty match: matches every path, as in Istio`,
			`t.yaml:13: VirtualService/default/r: spec.http[0].match[0].headers[bad header]: invalid header name "bad header"`,
			`t.yaml:15: warning: VirtualService/default/r: spec.http[0].match[1].name: duplicate name "m" (also spec.http[0].match[0])`,
			`t.yaml:16: VirtualService/default/r: spec.http[0].match[1].uri.regex: regex must not be empty`,
			`t.yaml:17: warning: VirtualService/default/r: spec.http[1].name: duplicate name "a" (also spec.http[0])`,
			`t.yaml:19: warning: VirtualService/default/r: spec.http[1].match[0].uri: empty match: matches every path, as in Istio`,
			`t.yaml:23: VirtualService/default/r: spec.http[1].route[0].destination.host: invalid destination host *`,
			`t.yaml:23: VirtualService/default/r: spec.http[1].route[0].destination.subset: invalid subset name "V1": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
			`t.yaml:23: VirtualService/default/r: spec.http[1].route[0].destination.port.number: port number 0 must be in the range 1..65535`,
			`t.yaml:23: warning: VirtualService/default/r: spec.http[1].route[0].destination.subset: subset "V1" is not defined by any DestinationRule for host *`,
			`t.yaml:25: VirtualService/default/r: spec.http[2].route: route and redirect cannot both be set`,
			`t.yaml:27: warning: VirtualService/default/r: spec.http[3]: rule is never used: spec.http[2] before it has no match and takes every request`,
		}},
		{name: "no routes at all", in: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: r
spec:
  hosts: [reviews]
`, want: []string{
			`t.yaml:5: VirtualService/default/r: spec: http, tcp or tls must be provided`,
		}},
	})
}

func TestValidateDestinationRule(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "subsets and policies", in: svcReviews + `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: r
spec:
  host: reviews
  trafficPolicy: {}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      loadBalancer: {simple: PASSTHROUGH}
  - name: v1
  - labels: {"bad key!": v}
  - name: V_2
`, want: []string{
			`t.yaml:18: DestinationRule/default/r: spec.trafficPolicy: a traffic policy must have at least one field`,
			`t.yaml:24: DestinationRule/default/r: spec.subsets[1].name: duplicate subset name "v1" (also spec.subsets[0])`,
			`t.yaml:25: DestinationRule/default/r: spec.subsets[2].name: missing required field`,
			`t.yaml:25: DestinationRule/default/r: spec.subsets[2].labels[bad key!]: invalid label key "bad key!": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
			`t.yaml:26: DestinationRule/default/r: spec.subsets[3].name: invalid subset name "V_2": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
		}},
		{name: "host required", in: `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: r
spec:
  subsets: [{name: v1}]
`, want: []string{
			`t.yaml:5: DestinationRule/default/r: spec.host: missing required field`,
		}},
	})
}

func TestValidateServiceEntry(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "static with host names", in: `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: db
spec:
  hosts: [db.example.com]
  ports:
  - {number: 5432, name: tcp, protocol: TCP}
  - {number: 5432, name: tcp, protocol: POSTGRES}
  - {number: 0, protocol: TCP}
  resolution: STATIC
  endpoints:
  - address: 10.0.0.1
    ports: {tcp: 5433, other: 1}
  - address: db1.example.com
`, want: []string{
			`t.yaml:9: ServiceEntry/default/db: spec.ports[1].name: duplicate port name "tcp" (also spec.ports[0])`,
			`t.yaml:9: ServiceEntry/default/db: spec.ports[1].number: duplicate port 5432 (also spec.ports[0])`,
			`t.yaml:9: ServiceEntry/default/db: spec.ports[1].protocol: unsupported protocol "POSTGRES": want one of HTTP, HTTPS, HTTP2, HTTP_PROXY, GRPC, GRPC-WEB, TCP, TLS, UDP, MONGO, REDIS, MYSQL`,
			`t.yaml:10: ServiceEntry/default/db: spec.ports[2].name: missing required field`,
			`t.yaml:10: ServiceEntry/default/db: spec.ports[2].number: port number 0 must be in the range 1..65535`,
			`t.yaml:14: ServiceEntry/default/db: spec.endpoints[0].ports[other]: port "other" is not one of the ServiceEntry's ports`,
			`t.yaml:15: ServiceEntry/default/db: spec.endpoints[1].address: "db1.example.com" is not an IP address: resolution STATIC needs IP addresses`,
		}},
		{name: "static without endpoints, none with endpoints, no hosts", in: `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: a
spec:
  hosts: [a.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: b
spec:
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 10.0.0.1}]
`, want: []string{
			`t.yaml:8: warning: ServiceEntry/default/a: spec.resolution: resolution STATIC without endpoints: the service has no endpoints`,
			`t.yaml:14: ServiceEntry/default/b: spec.hosts: at least one host is required`,
			`t.yaml:16: ServiceEntry/default/b: spec.endpoints: no endpoints may be given with resolution NONE`,
		}},
		{name: "DNS: several hosts need HTTP ports", in: `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ext
spec:
  hosts: [a.example.com, b.example.com]
  location: MESH_EXTERNAL
  ports: [{number: 443, name: tls, protocol: TLS}, {number: 5432, name: db, protocol: TCP}]
  resolution: DNS
`, want: []string{
			`t.yaml:8: ServiceEntry/default/ext: spec.ports[1].protocol: several hosts need HTTP or TLS ports to be told apart (or resolution NONE)`,
		}},
		{name: "DNS endpoints", in: `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: db
spec:
  hosts: ["*.db.example"]
  location: MESH_INTERNAL
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: DNS_ROUND_ROBIN
  endpoints:
  - address: primary.db.example
  - address: "not a host"
    ports: {postgres: 5433}
`, want: []string{
			`t.yaml:10: ServiceEntry/default/db: spec.endpoints: resolution DNS_ROUND_ROBIN takes at most one endpoint`,
			`t.yaml:12: ServiceEntry/default/db: spec.endpoints[1].address: "not a host" is neither an IP address nor a host name`,
			`t.yaml:13: ServiceEntry/default/db: spec.endpoints[1].ports[postgres]: port "postgres" is not one of the ServiceEntry's ports`,
		}},
		{name: "DNS without endpoints resolves its hosts: no wildcards", in: `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ext
spec:
  hosts: ["*.example.com"]
  location: MESH_EXTERNAL
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
`, want: []string{
			`t.yaml:6: ServiceEntry/default/ext: spec.hosts[0]: hosts must be FQDNs when no endpoints are given with resolution DNS`,
		}},
	})
}

func TestValidateService(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "ports", in: `
apiVersion: v1
kind: Service
metadata:
  name: s
spec:
  type: LoadBalancer
  sessionAffinity: ClientIP
  clusterIP: 10.0.0.300
  ports:
  - port: 80
  - name: http
    port: 80
    protocol: tcp
  - name: http
    port: 8080
    targetPort: 0x1F
  - name: Grpc
    port: 9090
    targetPort: grpc_port
`, want: []string{
			`t.yaml:6: warning: Service/default/s: spec.type: type LoadBalancer is treated as ClusterIP locally`,
			`t.yaml:7: warning: Service/default/s: spec.sessionAffinity: ClientIP is not yet supported; ignored`,
			`t.yaml:8: Service/default/s: spec.clusterIP: "10.0.0.300" is not an IP address (or "None")`,
			`t.yaml:10: Service/default/s: spec.ports[0].name: a name is required when the Service has more than one port`,
			`t.yaml:13: Service/default/s: spec.ports[1].protocol: unsupported value "tcp": must be one of TCP, UDP, SCTP`,
			`t.yaml:14: Service/default/s: spec.ports[2].name: duplicate port name "http" (also spec.ports[1])`,
			`t.yaml:17: Service/default/s: spec.ports[3].name: invalid port name "Grpc": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
			`t.yaml:19: Service/default/s: spec.ports[3].targetPort: invalid port name "grpc_port": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`,
		}},
		{name: "no ports, bad type", in: `
apiVersion: v1
kind: Service
metadata:
  name: s
spec:
  type: Internal
---
apiVersion: v1
kind: Service
metadata:
  name: headless
spec:
  clusterIP: None
  selector: {app: h}
`, want: []string{
			`t.yaml:5: Service/default/s: spec.ports: at least one port is required`,
			`t.yaml:6: Service/default/s: spec.type: unsupported value "Internal": must be one of ClusterIP, NodePort, LoadBalancer, ExternalName`,
		}},
		{name: "ExternalName", in: `
apiVersion: v1
kind: Service
metadata:
  name: ok
spec:
  type: ExternalName
  externalName: httpbin.org
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: missing
spec:
  type: ExternalName
  selector: {app: x}
---
apiVersion: v1
kind: Service
metadata:
  name: wild
spec:
  type: ExternalName
  externalName: "*.example.com"
`, want: []string{
			`t.yaml:14: Service/default/missing: spec.externalName: required with type ExternalName`,
			`t.yaml:16: warning: Service/default/missing: spec.selector: ignored with type ExternalName`,
			`t.yaml:24: Service/default/wild: spec.externalName: "*.example.com" is not a host name`,
		}},
	})
}

func TestValidateDeployment(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "selector does not match", in: `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  replicas: -1
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec:
      containers: []
`, want: []string{
			`t.yaml:6: Deployment/default/d: spec.replicas: must not be negative`,
			`t.yaml:9: Deployment/default/d: spec.template.metadata.labels: selector does not match template labels`,
			`t.yaml:11: Deployment/default/d: spec.template.spec.containers: at least one container is required`,
		}},
		{name: "containers", in: `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a, version: v1}}
    spec:
      containers:
      - name: a
        image: a
        ports:
        - {name: http, containerPort: 8080}
        readinessProbe:
          httpGet: {port: admin, path: /}
      - name: a
        command: [b]
        env: [{value: x}]
        ports:
        - {name: http, containerPort: 8080}
        - {containerPort: 8080, protocol: UDP}
        readinessProbe:
          httpGet: {port: 8080}
          tcpSocket: {port: 8080}
`, want: []string{
			`t.yaml:11: Deployment/default/d: spec.template.spec.containers[0].command: missing required field: Halyard runs command and args as a local process (it does not know the image's entrypoint)`,
			`t.yaml:16: warning: Deployment/default/d: spec.template.spec.containers[0].readinessProbe.httpGet.port: no container port is named "admin": the probe cannot succeed`,
			`t.yaml:17: Deployment/default/d: spec.template.spec.containers[1].name: duplicate container name "a" (also containers[0])`,
			`t.yaml:19: Deployment/default/d: spec.template.spec.containers[1].env[0].name: missing required field`,
			`t.yaml:21: Deployment/default/d: spec.template.spec.containers[1].ports[0].containerPort: duplicate container port 8080/TCP (also spec.template.spec.containers[0].ports[0])`,
			`t.yaml:21: Deployment/default/d: spec.template.spec.containers[1].ports[0].name: duplicate port name "http" (also spec.template.spec.containers[0].ports[0])`,
			`t.yaml:23: Deployment/default/d: spec.template.spec.containers[1].readinessProbe: only one of exec, httpGet, tcpSocket or grpc may be set`,
		}},
		{name: "no selector", in: `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    metadata: {labels: {app: a}}
    spec:
      containers: [{name: a, command: [a]}]
`, want: []string{
			`t.yaml:5: Deployment/default/d: spec.selector: missing required field`,
		}},
	})
}
