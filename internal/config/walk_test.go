package config

import (
	"testing"
	"time"
)

const vsHead = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
`

func TestStrictWalk(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "proto names are accepted like JSON names", in: vsHead + `
    match:
    - ignore_uri_case: true
      uri: {prefix: /}
      stat_prefix: r
    timeout: 1m30s
`, want: []string{
			`t.yaml:14: warning: VirtualService/default/reviews: spec.http[0].match[0].statPrefix: field not yet supported; ignored`,
		}},
		{name: "a field given under both names", in: vsHead + `
    match:
    - ignore_uri_case: true
      ignoreUriCase: false
`, want: []string{
			`t.yaml:13: VirtualService/default/reviews: spec.http[0].match[0].ignoreUriCase: field set twice (first at line 12)`,
		}},
		{name: "duplicate key", in: vsHead + `
    name: a
    name: b
`, want: []string{
			`t.yaml:12: VirtualService/default/reviews: spec.http[0].name: duplicate key (first at line 11)`,
		}},
		{name: "two members of a oneof", in: vsHead + `
    match:
    - uri:
        exact: /a
        prefix: /b
`, want: []string{
			`t.yaml:14: VirtualService/default/reviews: spec.http[0].match[0].uri.prefix: only one of exact, prefix, regex may be set (exact is set too)`,
		}},
		{name: "bad duration, out of range integer, number for a string", in: vsHead + `
    timeout: 5 minutes
  - route:
    - destination:
        host: 1234
        port: {number: 4294967296}
`, want: []string{
			`t.yaml:11: VirtualService/default/reviews: spec.http[0].timeout: invalid duration "5 minutes": use a value such as 1.5s, 300ms or 1m`,
			`t.yaml:14: VirtualService/default/reviews: spec.http[1].route[0].destination.host: expected a string, got integer 1234 (quote it to make it a string)`,
			`t.yaml:15: VirtualService/default/reviews: spec.http[1].route[0].destination.port.number: integer 4294967296 is out of range for uint32`,
		}},
		{name: "mapping where a list is expected, and null list items", in: vsHead + `
    match:
      uri: {exact: /}
  - route:
    -
`, want: []string{
			`t.yaml:12: VirtualService/default/reviews: spec.http[0].match: expected a list, got a mapping`,
			`t.yaml:14: VirtualService/default/reviews: spec.http[1].route[0]: null is not allowed in a list`,
		}},
		{name: "unknown top-level field and bad metadata", in: `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  labels: {version: 2}
  uid: 7
spec:
  host: reviews
specs: {}
`, want: []string{
			`t.yaml:5: DestinationRule/default/reviews: metadata.labels[version]: expected a string, got integer 2 (quote it to make it a string)`,
			`t.yaml:6: DestinationRule/default/reviews: metadata.uid: expected a string, got integer 7 (quote it to make it a string)`,
			`t.yaml:9: DestinationRule/default/reviews: specs: unknown field (did you mean "spec"?)`,
		}},
		{name: "Kubernetes special types: IntOrString, Quantity", in: `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews
spec:
  selector: {matchLabels: {app: reviews}}
  template:
    metadata: {labels: {app: reviews}}
    spec:
      containers:
      - name: reviews
        command: [reviews]
        resources:
          limits: {cpu: lots}
        readinessProbe:
          httpGet: {port: [80]}
`, want: []string{
			`t.yaml:14: Deployment/default/reviews: spec.template.spec.containers[0].resources.limits[cpu]: invalid value "lots": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`,
			`t.yaml:16: Deployment/default/reviews: spec.template.spec.containers[0].readinessProbe.httpGet.port: expected an integer or a string, got a list`,
		}},
		{name: "Kubernetes field names are case-sensitive", in: `
apiVersion: v1
kind: Service
metadata:
  Name: reviews
  name: reviews
spec:
  ports: [{port: 80}]
`, want: []string{
			`t.yaml:4: Service/default/reviews: metadata.Name: unknown field (did you mean "name"?)`,
		}},
		{name: "anchors, aliases and merge keys", in: `
apiVersion: v1
kind: Service
metadata:
  name: reviews
  labels: &labels
    app: reviews
spec:
  selector: *labels
  ports:
  - &http {name: http, port: 9080}
  - <<: *http
    name: grpc
    port: 9090
`},
	})
}

func TestDurationsAsIstioReadsThem(t *testing.T) {
	for in, want := range map[string]string{"1m30s": "90s", "100ms": "0.100000000s", "2h": "7200s", "-1s": "-1s", "1.5s": "1.500000000s"} {
		d, err := time.ParseDuration(in)
		if got := protoDuration(d); err != nil || got != want {
			t.Errorf("protoDuration(%s) = %s, want %s", in, got, want)
		}
	}
	snap, diags := Parse("t.yaml", []byte(vsHead[1:]+"    timeout: 1m30s\n"))
	if snap == nil || snap.VirtualServices[0].Spec.Http[0].Timeout.AsDuration() != 90*time.Second {
		t.Fatalf("timeout not decoded: %q", texts(diags))
	}
}

func TestEmptyDocumentsAreSkipped(t *testing.T) {
	snap, diags := Parse("t.yaml", []byte("---\n# only a comment\n---\n\n---\n"+svcReviews[1:]+"---\n"))
	if snap == nil || len(diags) != 0 || len(snap.Services) != 1 || snap.Services[0].Source.Line != 6 {
		t.Fatalf("snapshot %+v, diagnostics %q", snap, texts(diags))
	}
}
