package config

import "testing"

func TestCrossDocumentWarnings(t *testing.T) {
	vs := `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 50
    - destination: {host: reviews.default.svc.cluster.local, subset: v2}
      weight: 50
`
	runDiagCases(t, []diagCase{
		{name: "subset missing from the DestinationRule", in: svcReviews + "---" + drReviews + "---" + vs, want: []string{
			`t.yaml:33: warning: VirtualService/default/reviews: spec.http[0].route[1].destination.subset: subset "v2" is not defined by any DestinationRule for host reviews.default.svc.cluster.local`,
		}},
		{name: "no DestinationRule at all", in: svcReviews + "---" + vs, want: []string{
			`t.yaml:20: warning: VirtualService/default/reviews: spec.http[0].route[0].destination.subset: subset "v1" is not defined by any DestinationRule for host reviews.default.svc.cluster.local`,
			`t.yaml:22: warning: VirtualService/default/reviews: spec.http[0].route[1].destination.subset: subset "v2" is not defined by any DestinationRule for host reviews.default.svc.cluster.local`,
		}},
		{name: "DestinationRule for a host nobody declares; a wildcard ServiceEntry covers others", in: `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ratings
spec:
  host: ratings
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: api
spec:
  host: api.example.com
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: example
spec:
  hosts: ["*.example.com"]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: NONE
`, want: []string{
			`t.yaml:6: warning: DestinationRule/default/ratings: spec.host: host ratings.default.svc.cluster.local matches no Service or ServiceEntry`,
		}},
		{name: "missing ServiceAccount", in: `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews
spec:
  selector: {matchLabels: {app: reviews}}
  template:
    metadata: {labels: {app: reviews}}
    spec:
      serviceAccountName: bookinfo-reviews
      containers: [{name: reviews, command: [reviews]}]
`, want: []string{
			`t.yaml:10: warning: Deployment/default/reviews: spec.template.spec.serviceAccountName: no ServiceAccount default/bookinfo-reviews is defined`,
		}},
	})
}

func TestListKind(t *testing.T) {
	snap, diags := Parse("t.yaml", []byte(`apiVersion: v1
kind: List
metadata: {}
items:
- apiVersion: v1
  kind: ServiceAccount
  metadata: {name: a}
- apiVersion: v1
  kind: Service
  metadata: {name: b}
  spec:
    ports: [{port: 80, name: http}, {port: 80, name: http2}]
`))
	want := []string{`t.yaml:12: Service/default/b: spec.ports[1].port: duplicate port 80/TCP (also spec.ports[0])`}
	if got := texts(diags); snap != nil || len(got) != 1 || got[0] != want[0] {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMergeKeysDecode(t *testing.T) {
	snap, diags := Parse("t.yaml", []byte(`apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  ports:
  - &http {name: http, port: 9080, targetPort: 8080}
  - <<: *http
    name: grpc
    port: 9090
`))
	if snap == nil {
		t.Fatal(texts(diags))
	}
	p := snap.Services[0].Spec.Ports[1]
	if p.Name != "grpc" || p.Port != 9090 || p.TargetPort.IntVal != 8080 {
		t.Errorf("merged port = %+v", p)
	}
}
