package config

import "testing"

func TestValidateSidecar(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "egress hosts", in: `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: default
spec:
  egress:
  - hosts: ["./*", "istio-system/*", "*/*.example.com", "~/*", "shop/cart.shop.svc.cluster.local"]
  - hosts: [reviews, "Bad_NS/*", "./bad host", "/x"]
  - hosts: []
`, want: []string{
			`t.yaml:8: Sidecar/default/default: spec.egress[1].hosts[0]: "reviews": want namespace/dnsName (for example ./* or istio-system/*)`,
			`t.yaml:8: Sidecar/default/default: spec.egress[1].hosts[1]: invalid namespace "Bad_NS": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
			`t.yaml:8: Sidecar/default/default: spec.egress[1].hosts[2]: invalid host "bad host": label "bad host" is not a DNS label`,
			`t.yaml:8: Sidecar/default/default: spec.egress[1].hosts[3]: "/x": want namespace/dnsName (for example ./* or istio-system/*)`,
			`t.yaml:9: Sidecar/default/default: spec.egress[2].hosts: at least one host is required`,
		}},
	})
}

func TestValidateExportTo(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "VirtualService, DestinationRule, ServiceEntry", in: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: a
spec:
  hosts: [a]
  exportTo: [".", "shop", "."]
  http: [{route: [{destination: {host: a}}]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: a
spec:
  host: a
  exportTo: ["*", "shop"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: e
spec:
  hosts: [e.example.com]
  exportTo: ["~"]
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}]
`, want: []string{
			`t.yaml:7: VirtualService/default/a: spec.exportTo[2]: duplicate namespace "."`,
			`t.yaml:15: warning: DestinationRule/default/a: spec.host: host a.default.svc.cluster.local matches no Service or ServiceEntry`,
			`t.yaml:16: DestinationRule/default/a: spec.exportTo[0]: "*" cannot be combined with other namespaces`,
		}},
	})
}
