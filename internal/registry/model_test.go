package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/halyard-mesh/halyard/internal/config"
)

func TestProtocolOf(t *testing.T) {
	cases := []struct {
		name, explicit string
		kube           corev1.Protocol
		want           Protocol
	}{
		{"http", "", "", HTTP},
		{"http-web", "", "", HTTP},
		{"http2", "", "", HTTP2},
		{"grpc", "", "", GRPC},
		{"grpc-web", "", "", GRPC},
		{"tcp-db", "", "", TCP},
		{"redis", "", "", TCP},
		{"https-api", "", "", HTTPS},
		{"tls", "", "", TLS},
		{"web", "", "", Unsupported},
		{"", "", "", Unsupported},
		{"web", "kubernetes.io/h2c", "", HTTP2},
		{"http", "grpc", "", GRPC}, // appProtocol wins over the name
		{"HTTP", "", "", HTTP},
		{"http", "", corev1.ProtocolUDP, TCP},
	}
	for _, c := range cases {
		if got := ProtocolOf(c.name, c.explicit, c.kube); got != c.want {
			t.Errorf("ProtocolOf(%q, %q, %q) = %s, want %s", c.name, c.explicit, c.kube, got, c.want)
		}
	}
}

const registryYAML = `apiVersion: v1
kind: Service
metadata:
  name: reviews
spec:
  selector:
    app: reviews
  ports:
  - name: http
    port: 9080
    targetPort: web
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ext
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - number: 443
    name: https
    protocol: HTTPS
  - number: 80
    name: http
    protocol: HTTP
    targetPort: 8080
  endpoints:
  - address: 10.0.0.1
  - address: 10.0.0.2
    ports:
      https: 8443
`

func TestBuildEndpoints(t *testing.T) {
	cfg, diags := config.Parse("r.yaml", []byte(registryYAML))
	if cfg == nil {
		t.Fatal(diags)
	}
	pods := []Pod{
		{Name: "reviews-v1-0", Namespace: "default", Labels: map[string]string{"app": "reviews", "version": "v1"}, Ready: true,
			Ports: []PodPort{{Name: "web", ContainerPort: 9080, AppAddress: "127.0.0.1:4001", InboundAddress: "127.0.0.1:5001"}}},
		{Name: "reviews-v2-0", Namespace: "default", Labels: map[string]string{"app": "reviews", "version": "v2"}, Ready: false,
			Ports: []PodPort{{Name: "web", ContainerPort: 9080, AppAddress: "127.0.0.1:4002", InboundAddress: "127.0.0.1:5002"}}},
		{Name: "reviews-v3-0", Namespace: "default", Labels: map[string]string{"app": "reviews", "version": "v3"}, Ready: true,
			Ports: []PodPort{{Name: "web", ContainerPort: 9080, AppAddress: "127.0.0.1:4003"}}}, // no sidecar
		{Name: "reviews-0", Namespace: "other", Labels: map[string]string{"app": "reviews"}, Ready: true,
			Ports: []PodPort{{Name: "web", ContainerPort: 9080, AppAddress: "127.0.0.1:4004"}}},
	}
	m, warnings := Build(cfg, pods, "")
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	eps := m.Endpoints("reviews.default.svc.cluster.local", 9080)
	if len(eps) != 2 {
		t.Fatalf("endpoints: %+v (want v1 via its sidecar and v3 direct; v2 is not ready, reviews-0 is in another namespace)", eps)
	}
	if eps[0].Address != "127.0.0.1" || eps[0].Port != 5001 || !eps[0].Sidecar || eps[0].Pod != "reviews-v1-0" {
		t.Errorf("v1 endpoint: %+v", eps[0])
	}
	if eps[1].Port != 4003 || eps[1].Sidecar {
		t.Errorf("v3 endpoint (no sidecar) should be the app address: %+v", eps[1])
	}

	if got := m.Endpoints("api.example.com", 443); len(got) != 2 || got[0].Port != 443 || got[1].Port != 8443 {
		t.Errorf("ServiceEntry https endpoints: %+v", got)
	}
	if got := m.Endpoints("api.example.com", 80); len(got) != 2 || got[0].Port != 8080 {
		t.Errorf("ServiceEntry http endpoints (targetPort 8080): %+v", got)
	}
	if svc := m.Service("api.example.com"); svc == nil || !svc.MeshExternal {
		t.Errorf("ServiceEntry service: %+v", svc)
	}
	if got := m.ServicesOf(&pods[0]); len(got) != 1 || got[0].Name != "reviews" {
		t.Errorf("ServicesOf: %+v", got)
	}
}

func TestBuildWarnsOnMissingTargetPort(t *testing.T) {
	cfg, _ := config.Parse("r.yaml", []byte(registryYAML))
	pods := []Pod{{Name: "reviews-v1-0", Namespace: "default", Labels: map[string]string{"app": "reviews"}, Ready: true,
		Ports: []PodPort{{Name: "http", ContainerPort: 9080, AppAddress: "127.0.0.1:4001"}}}}
	_, warnings := Build(cfg, pods, "")
	if len(warnings) != 1 || warnings[0] != `registry: service reviews.default.svc.cluster.local port 9080: pod reviews-v1-0 has no container port "web"` {
		t.Errorf("warnings: %q", warnings)
	}
}

// TestServiceEntryResolution: the resolution is kept; a DNS entry without
// endpoints resolves its hosts themselves, each at its port's targetPort.
func TestServiceEntryResolution(t *testing.T) {
	cfg, diags := config.Parse("r.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: dns
spec:
  hosts: [a.example.com, b.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
  - {number: 80, name: http, protocol: HTTP, targetPort: 8080}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: none
spec:
  hosts: ["*.wiki.example.com"]
  location: MESH_EXTERNAL
  resolution: NONE
  ports:
  - {number: 80, name: http, protocol: HTTP}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: rr
spec:
  hosts: [rr.example.com]
  resolution: DNS_ROUND_ROBIN
  ports:
  - {number: 443, name: tls, protocol: TLS}
  endpoints:
  - address: lb.example.net
`))
	if cfg == nil {
		t.Fatal(diags)
	}
	m, warnings := Build(cfg, nil, "")
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	for host, want := range map[string]Resolution{"a.example.com": DNS, "b.example.com": DNS, "*.wiki.example.com": Passthrough, "rr.example.com": DNSRoundRobin} {
		if svc := m.Service(host); svc == nil || svc.Resolution != want {
			t.Errorf("%s: %+v, want resolution %v", host, svc, want)
		}
	}
	for _, host := range []string{"a.example.com", "b.example.com"} {
		if got := m.Endpoints(host, 80); len(got) != 1 || got[0].Address != host || got[0].Port != 8080 {
			t.Errorf("%s endpoints: %+v, want the host itself at 8080", host, got)
		}
	}
	if got := m.Endpoints("*.wiki.example.com", 80); len(got) != 0 {
		t.Errorf("NONE endpoints: %+v, want none", got)
	}
	if got := m.Endpoints("rr.example.com", 443); len(got) != 1 || got[0].Address != "lb.example.net" || got[0].Port != 443 {
		t.Errorf("DNS_ROUND_ROBIN endpoints: %+v", got)
	}
}

// TestExternalNameService: a Kubernetes Service of type ExternalName is a
// DNS service outside the mesh at its externalName, on its own ports.
func TestExternalNameService(t *testing.T) {
	cfg, diags := config.Parse("r.yaml", []byte(`apiVersion: v1
kind: Service
metadata:
  name: my-httpbin
spec:
  type: ExternalName
  externalName: httpbin.org
  ports:
  - {name: http, port: 80, targetPort: 8080}
`))
	if cfg == nil {
		t.Fatal(diags)
	}
	m, _ := Build(cfg, nil, "")
	svc := m.Service("my-httpbin.default.svc.cluster.local")
	if svc == nil || !svc.Kubernetes || !svc.MeshExternal || svc.Resolution != DNS || svc.Selector != nil {
		t.Fatalf("service: %+v", svc)
	}
	if got := m.Endpoints(svc.Hostname, 80); len(got) != 1 || got[0].Address != "httpbin.org" || got[0].Port != 80 {
		t.Errorf("endpoints: %+v, want httpbin.org:80 (the Service's port; targetPort does not apply)", got)
	}
}

// TestServiceEntryWorkloadSelector: the entry's endpoints are the pods of
// its namespace that its selector picks, at the port's targetPort.
func TestServiceEntryWorkloadSelector(t *testing.T) {
	cfg, diags := config.Parse("r.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: db
spec:
  hosts: [db.internal.test]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 5432, name: tcp, protocol: TCP, targetPort: 6432}
  workloadSelector:
    labels: {app: db}
`))
	if cfg == nil {
		t.Fatal(diags)
	}
	port := func(addr string) []PodPort { return []PodPort{{ContainerPort: 6432, AppAddress: addr}} }
	pods := []Pod{
		{Name: "db-0", Namespace: "default", Labels: map[string]string{"app": "db"}, Ready: true, Ports: port("127.0.0.1:4001")},
		{Name: "web-0", Namespace: "default", Labels: map[string]string{"app": "web"}, Ready: true, Ports: port("127.0.0.1:4002")},
		{Name: "db-0", Namespace: "other", Labels: map[string]string{"app": "db"}, Ready: true, Ports: port("127.0.0.1:4003")},
	}
	m, _ := Build(cfg, pods, "")
	eps := m.Endpoints("db.internal.test", 5432)
	if len(eps) != 1 || eps[0].Pod != "db-0" || eps[0].Port != 4001 {
		t.Errorf("endpoints: %+v, want default/db-0's app address", eps)
	}
	if svc := m.Service("db.internal.test"); svc == nil || svc.Kubernetes || svc.Resolution != Listed {
		t.Errorf("service: %+v", svc)
	}
}

// TestWorkloadEntries: a WorkloadEntry is an endpoint of the services of
// its namespace whose selector matches its labels, at its port for the
// service port's name, else the targetPort; a Service without a selector
// selects none.
func TestWorkloadEntries(t *testing.T) {
	cfg, diags := config.Parse("r.yaml", []byte(`apiVersion: v1
kind: Service
metadata: {name: legacy}
spec:
  selector: {app: legacy}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: admin, port: 9090}]
---
apiVersion: v1
kind: Service
metadata: {name: manual}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1}
spec:
  address: 10.0.0.5
  labels: {app: legacy}
  ports: {admin: 19090}
  weight: 3
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-2, namespace: other}
spec:
  address: 10.0.0.6
  labels: {app: legacy}
`))
	if cfg == nil {
		t.Fatal(diags)
	}
	m, _ := Build(cfg, nil, "")
	if got := m.Endpoints("legacy.default.svc.cluster.local", 80); len(got) != 1 || got[0].Address != "10.0.0.5" || got[0].Port != 8080 || got[0].Weight != 3 {
		t.Errorf("http endpoints: %+v, want 10.0.0.5:8080 weight 3", got)
	}
	if got := m.Endpoints("legacy.default.svc.cluster.local", 9090); len(got) != 1 || got[0].Port != 19090 {
		t.Errorf("admin endpoints: %+v, want the entry's port 19090", got)
	}
	if got := m.Endpoints("manual.default.svc.cluster.local", 80); len(got) != 0 {
		t.Errorf("a Service without a selector: %+v", got)
	}
}
