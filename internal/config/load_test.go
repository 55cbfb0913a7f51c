package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseDiagnostics(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "unknown field deep in a VirtualService", in: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination:
        host: reviews
        port:
          numbr: 9080
`, want: []string{
			`t.yaml:12: VirtualService/default/reviews: spec.http[0].route[0].destination.port.numbr: unknown field (did you mean "number"?)`,
		}},
		{name: "wrong type", in: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: reviews
  http:
  - route:
    - destination: {host: reviews}
      weight: fifty
`, want: []string{
			`t.yaml:6: VirtualService/default/reviews: spec.hosts: expected a list, got "reviews"`,
			`t.yaml:10: VirtualService/default/reviews: spec.http[0].route[0].weight: expected an integer, got "fifty"`,
		}},
		{name: "bad enum", in: drReviews + `
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBBIN
`, want: []string{
			`t.yaml:14: DestinationRule/default/reviews: spec.trafficPolicy.loadBalancer.simple: invalid value "ROUND_ROBBIN": must be one of LEAST_CONN, LEAST_REQUEST, PASSTHROUGH, RANDOM, ROUND_ROBIN, UNSPECIFIED`,
		}},
		{name: "bad regex", in: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - match:
    - uri:
        regex: "/api/(v1"
    route:
    - destination: {host: reviews}
`, want: []string{
			"t.yaml:10: VirtualService/default/reviews: spec.http[0].match[0].uri.regex: invalid RE2 regex: error parsing regexp: missing closing ): `/api/(v1`",
		}},
		{name: "weights that do not add up to 100 are relative, as in Istio 1.2x", in: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
      weight: 60
    - destination: {host: ratings}
      weight: 60
`},
		{name: "weights all zero, or negative", in: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
    - destination: {host: ratings}
  - route:
    - destination: {host: reviews}
      weight: -5
`, want: []string{
			`t.yaml:8: VirtualService/default/reviews: spec.http[0].route: total destination weight is 0: give at least one destination a weight`,
			`t.yaml:11: warning: VirtualService/default/reviews: spec.http[1]: rule is never used: spec.http[0] before it has no match and takes every request`,
			`t.yaml:13: VirtualService/default/reviews: spec.http[1].route[0].weight: weight -5 must not be negative`,
		}},
		{name: "missing hosts and destination host", in: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  http:
  - route:
    - destination:
        subset: v1
`, want: []string{
			`t.yaml:5: VirtualService/default/reviews: spec.hosts: at least one host is required (delegate VirtualServices are not supported)`,
			`t.yaml:8: VirtualService/default/reviews: spec.http[0].route[0].destination.host: missing required field`,
		}},
		{name: "multi-document file with the second document bad", in: svcReviews + `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews-v1
spec:
  selector:
    matchLabels: {app: reviews}
  template:
    metadata:
      labels: {app: reviews}
    spec:
      containers:
      - name: reviews
        command: ["reviews"]
        ports:
        - containerPort: "9080"
`, want: []string{
			`t.yaml:27: Deployment/default/reviews-v1: spec.template.spec.containers[0].ports[0].containerPort: expected an integer, got "9080"`,
		}},
		{name: "Deployment with an unknown field", in: `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews-v1
spec:
  selector:
    matchLabels: {app: reviews}
  template:
    metadata:
      labels: {app: reviews}
    spec:
      containers:
      - name: reviews
        command: ["reviews"]
        enviroment:
        - name: PORT
`, want: []string{
			`t.yaml:15: Deployment/default/reviews-v1: spec.template.spec.containers[0].enviroment: unknown field`,
		}},
		{name: "missing apiVersion, kind, name", in: `
kind: Service
metadata:
  name: a
---
apiVersion: v1
metadata:
  name: b
---
apiVersion: v1
kind: Service
metadata:
  namespace: x
---
apiVersion: v1
kind: Service
`, want: []string{
			`t.yaml:1: Service/a: apiVersion: missing required field`,
			`t.yaml:5: kind: missing required field`,
			`t.yaml:11: Service: metadata.name: missing required field`,
			`t.yaml:14: Service: metadata.name: missing required field`,
		}},
		{name: "ignored Kubernetes kinds and unknown Istio kinds", in: `
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: b
---
apiVersion: networking.istio.io/v1
kind: Gatway
metadata:
  name: g
---
apiVersion: networking.istio.io/v1
kind: EnvoyFilter
metadata:
  name: f
`, want: []string{
			`t.yaml:1: warning: ConfigMap/settings: kind ConfigMap (v1) is ignored: Halyard does not use it`,
			`t.yaml:8: Gatway/g: kind: no kind "Gatway" in networking.istio.io`,
			`t.yaml:13: EnvoyFilter/f: apiVersion: EnvoyFilter is not served in networking.istio.io/v1 (versions: networking.istio.io/v1alpha3)`,
		}},
		{name: "YAML syntax error keeps the file's line", in: svcReviews + `---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: a
   b: c
`, want: []string{
			`t.yaml:16: invalid YAML: mapping values are not allowed in this context`,
		}},
		{name: "a document that is not a mapping", in: `
- a
- b
`, want: []string{
			`t.yaml:1: a document must be a mapping, got a list`,
		}},
		{name: "invalid names", in: `
apiVersion: v1
kind: Service
metadata:
  name: 1reviews
  namespace: Bookinfo
spec:
  ports:
  - port: 80
`, want: []string{
			`t.yaml:4: Service/Bookinfo/1reviews: metadata.name: invalid name "1reviews": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`,
			`t.yaml:5: Service/Bookinfo/1reviews: metadata.namespace: invalid name "Bookinfo": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
		}},
	})
}

func TestDuplicateObjects(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "same kind, namespace and name", in: svcReviews + "---" + svcReviews, want: []string{
			`t.yaml:12: Service/default/reviews: duplicate Service/default/reviews: already defined at t.yaml:1`,
		}},
		{name: "default namespace written or not is the same object", in: svcReviews + "---" + drReviews + "---" +
			strings.Replace(drReviews, "  name: reviews\n", "  name: reviews\n  namespace: default\n", 1), want: []string{
			`t.yaml:23: DestinationRule/default/reviews: duplicate DestinationRule/default/reviews: already defined at t.yaml:12`,
		}},
		{name: "same name, other namespace or other kind", in: svcReviews + "---" +
			strings.Replace(svcReviews, "  name: reviews\n", "  name: reviews\n  namespace: other\n", 1) + "---" + drReviews},
	})
}

func TestDuplicateAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), svcReviews)
	writeFile(t, filepath.Join(dir, "b.yaml"), "# the same service again\n"+strings.TrimPrefix(svcReviews, "\n"))
	snap, diags := Load(dir)
	want := []string{filepath.Join(dir, "b.yaml") + ":2: Service/default/reviews: duplicate Service/default/reviews: already defined at " +
		filepath.Join(dir, "a.yaml") + ":1"}
	if got := texts(diags); !slices.Equal(got, want) || snap != nil {
		t.Errorf("got %q (snapshot %v), want %q", got, snap != nil, want)
	}
}

func TestNotAppliedKinds(t *testing.T) {
	runDiagCases(t, []diagCase{
		{name: "valid kinds are listed and warned", in: `
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata:
  name: vm-1
  namespace: bookinfo
spec: {template: {ports: {http: 80}}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: ingress
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
  metrics:
  - reportingInterval: 5s
`, want: []string{
			`t.yaml:1: warning: WorkloadGroup/bookinfo/vm-1: WorkloadGroup is not yet applied: it is validated, then ignored`,
			`t.yaml:8: warning: Gateway/default/ingress: Gateway is not yet applied: it is validated, then ignored`,
			`t.yaml:26: warning: Telemetry/istio-system/mesh-default: spec.metrics[0].reportingInterval: field not yet supported; ignored`,
		}},
		{name: "they are parsed strictly", in: `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: strict
spec:
  mtls:
    mode: STRICTER
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata:
  name: f
spec:
  configPatches:
  - applyTo: HTTP_FILTER
    patch:
      operation: INSERT_BEFORE
      value:
        name: anything
        typed_config: {"@type": "type.googleapis.com/x"}
      valu: {}
`, want: []string{
			`t.yaml:7: PeerAuthentication/default/strict: spec.mtls.mode: invalid value "STRICTER": must be one of DISABLE, PERMISSIVE, STRICT, UNSET`,
			`t.yaml:21: EnvoyFilter/default/f: spec.configPatches[0].patch.valu: unknown field (did you mean "value"?)`,
		}},
	})
	snap, _ := Parse("t.yaml", []byte(`
apiVersion: networking.istio.io/v1beta1
kind: WorkloadGroup
metadata:
  name: default
  namespace: bookinfo
spec:
  template: {ports: {http: 80}}
`))
	want := []Meta{{APIVersion: "networking.istio.io/v1beta1", Kind: "WorkloadGroup", Name: "default", Namespace: "bookinfo",
		Source: Source{File: "t.yaml", Line: 2}}}
	if snap == nil || len(snap.NotApplied) != 1 || snap.NotApplied[0].Ref() != want[0].Ref() || snap.NotApplied[0].Source != want[0].Source {
		t.Errorf("NotApplied = %+v, want %+v", snap, want)
	}
}

func TestBookinfoLoadsClean(t *testing.T) {
	snap, diags := Load("testdata/bookinfo.yaml")
	if len(diags) != 0 {
		t.Fatalf("diagnostics: %q", texts(diags))
	}
	if len(snap.Namespaces) != 1 || len(snap.ServiceAccounts) != 1 || len(snap.Services) != 1 ||
		len(snap.Deployments) != 1 || len(snap.VirtualServices) != 1 || len(snap.DestinationRules) != 1 {
		t.Fatalf("snapshot: %+v", snap)
	}
	dep := snap.Deployments[0]
	if dep.Ref() != "Deployment/bookinfo/reviews-v1" || dep.Source != (Source{"testdata/bookinfo.yaml", 33}) {
		t.Errorf("deployment meta: %+v", dep.Meta)
	}
	if args := dep.Spec.Template.Spec.Containers[0].Args; !slices.Equal(args, []string{"--service", "reviews", "--version", "v1", "--port", "$(PORT)"}) {
		t.Errorf("args = %q", args)
	}
	vs := snap.VirtualServices[0].Spec
	if got := vs.Http[0].Match[0].Headers["end-user"].GetExact(); got != "jason" {
		t.Errorf("header match = %q", got)
	}
	if w := vs.Http[1].Route; w[0].Weight != 95 || w[1].Weight != 5 || w[1].Destination.Subset != "v3" {
		t.Errorf("split = %v", w)
	}
	if ns := snap.Namespaces[0]; ns.Ref() != "Namespace/bookinfo" || ns.Labels["istio-injection"] != "enabled" {
		t.Errorf("namespace = %+v", ns.Meta)
	}
	if dr := snap.DestinationRules[0].Spec; len(dr.Subsets) != 3 || dr.Subsets[2].Labels["version"] != "v3" {
		t.Errorf("subsets = %v", dr.Subsets)
	}
}

func TestLoadDirectory(t *testing.T) {
	// notes.txt and the hidden directory (which holds invalid YAML) are
	// not read; sub/a.yml is.
	snap, diags := Load("testdata/dir")
	want := []string{
		"testdata/dir/sub/a.yml:1: warning: ConfigMap/settings: kind ConfigMap (v1) is ignored: Halyard does not use it",
	}
	if got := texts(diags); !slices.Equal(got, want) {
		t.Fatalf("diagnostics = %q, want %q", got, want)
	}
	if len(snap.DestinationRules) != 1 || len(snap.Services) != 1 {
		t.Fatalf("snapshot: %+v", snap)
	}
	if f := snap.DestinationRules[0].Source.File; f != "testdata/dir/a.yaml" {
		t.Errorf("first file read = %s, want testdata/dir/a.yaml (sorted order)", f)
	}
}

func TestLoadMissingPath(t *testing.T) {
	snap, diags := Load("testdata/nope.yaml")
	if snap != nil || len(diags) != 1 || !strings.HasPrefix(diags[0].String(), "testdata/nope.yaml: config path: stat testdata/nope.yaml: no such file") {
		t.Errorf("got %q", texts(diags))
	}
}
