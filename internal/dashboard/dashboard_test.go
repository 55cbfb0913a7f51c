package dashboard

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/meshmetrics"
	"github.com/halyard-mesh/halyard/internal/registry"
)

const meshYAML = `apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings}
spec:
  selector: {app: ratings}
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-split}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v2}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews.default.svc.cluster.local
  subsets: [{name: v2, labels: {version: v2}}]
`

type fakeMetrics struct{ window time.Duration }

func (f *fakeMetrics) Graph(w time.Duration) meshmetrics.Graph {
	f.window = w
	return meshmetrics.Graph{Nodes: []meshmetrics.Node{{Name: "reviews", Namespace: "default", Version: "v2"}},
		Edges: []meshmetrics.Edge{{Source: "a", Destination: "reviews.default:v2", Stats: meshmetrics.Stats{RPS: 12.5}}}}
}

func (f *fakeMetrics) Series(name, ns string, w time.Duration) []meshmetrics.Point {
	return []meshmetrics.Point{{Stats: meshmetrics.Stats{RPS: float64(len(name + ns))}}}
}

func server(t *testing.T) (*httptest.Server, *fakeMetrics) {
	cfg, diags := config.Parse("mesh.yaml", []byte(meshYAML))
	if cfg == nil {
		t.Fatalf("config: %v", diags)
	}
	pods := []registry.Pod{{Name: "reviews-v2-0", Namespace: "default", Workload: "reviews-v2", Ready: true,
		Labels: map[string]string{"app": "reviews", "version": "v2"},
		Ports:  []registry.PodPort{{Name: "http", ContainerPort: 9080, AppAddress: "127.0.0.1:40001", InboundAddress: "127.0.0.1:40002"}}}}
	model, _ := registry.Build(cfg, pods, "cluster.local")
	fm := &fakeMetrics{}
	srv := httptest.NewServer(Handler(Options{Metrics: fm, Config: func() *config.Snapshot { return cfg },
		Model: func() *registry.Model { return model }, SyncStatus: func() any { return []string{"p1"} }, Interval: time.Second}))
	t.Cleanup(srv.Close)
	return srv, fm
}

func get(t *testing.T, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, b, want)
	}
	return string(b)
}

func TestPageAndAssetsAreServed(t *testing.T) {
	srv, _ := server(t)
	for path, want := range map[string]string{"": "Service graph", "app.js": "function drawGraph", "style.css": ".edge path"} {
		if body := get(t, srv.URL+Path+path, 200); !strings.Contains(body, want) {
			t.Errorf("%s lacks %q", Path+path, want)
		}
	}
}

func TestGraphAndSeriesAPIs(t *testing.T) {
	srv, fm := server(t)
	var g meshmetrics.Graph
	if err := json.Unmarshal([]byte(get(t, srv.URL+Path+"api/graph?window=1m", 200)), &g); err != nil {
		t.Fatal(err)
	}
	if fm.window != time.Minute || len(g.Edges) != 1 || g.Edges[0].RPS != 12.5 {
		t.Errorf("graph: %+v (window %s)", g, fm.window)
	}
	get(t, srv.URL+Path+"api/graph?window=15", 200)
	if fm.window != 15*time.Second {
		t.Errorf("window=15 read as %s", fm.window)
	}
	if body := get(t, srv.URL+Path+"api/graph?window=soon", 400); !strings.Contains(body, `dashboard: window "soon"`) {
		t.Errorf("bad window: %s", body)
	}
	if body := get(t, srv.URL+Path+"api/series?service=reviews", 200); !strings.Contains(body, `"rps":14`) {
		t.Errorf("series: %s (want reviews in namespace default)", body)
	}
	get(t, srv.URL+Path+"api/series", 400)
}

func TestServicesListTheirVirtualServicesAndDestinationRules(t *testing.T) {
	srv, _ := server(t)
	var svcs []Service
	if err := json.Unmarshal([]byte(get(t, srv.URL+Path+"api/services", 200)), &svcs); err != nil {
		t.Fatal(err)
	}
	by := map[string]Service{}
	for _, s := range svcs {
		by[s.Name] = s
	}
	r := by["reviews"]
	if len(r.VirtualServices) != 1 || r.VirtualServices[0].Name != "reviews-split" || len(r.DestinationRules) != 1 {
		t.Fatalf("reviews: %+v", r)
	}
	if !strings.Contains(r.VirtualServices[0].YAML, "subset: v2") || r.VirtualServices[0].Source != "mesh.yaml:15" {
		t.Errorf("reviews VS: %+v", r.VirtualServices[0])
	}
	if strings.Join(r.Versions, ",") != "v2" || r.Endpoints != 1 {
		t.Errorf("reviews versions %v, endpoints %d", r.Versions, r.Endpoints)
	}
	if rt := by["ratings"]; len(rt.VirtualServices) != 0 || len(rt.DestinationRules) != 0 {
		t.Errorf("ratings got objects that name reviews: %+v", rt)
	}
}
