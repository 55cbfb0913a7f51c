package xds

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/halyard-mesh/halyard/internal/registry"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenFiles maps each resource type to its golden file name.
var goldenFiles = []struct{ typeURL, file string }{
	{resource.ListenerType, "listeners.golden.yaml"},
	{resource.RouteType, "routes.golden.yaml"},
	{resource.ClusterType, "clusters.golden.yaml"},
	{resource.EndpointType, "endpoints.golden.yaml"},
}

// TestGolden generates the resources of each testdata/<case>: input.yaml
// holds the configuration, pods.yaml the running pods and which pod's
// proxy to generate for. Every resource must pass Envoy's validation and
// the snapshot must be consistent.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/input.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no test cases: %v", err)
	}
	for _, in := range dirs {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			res := generateCase(t, dir)
			for _, g := range goldenFiles {
				compareGolden(t, filepath.Join(dir, g.file), render(t, res[g.typeURL]))
			}
		})
	}
}

// generateCase loads a test case, generates its proxy's resources and
// checks them.
func generateCase(t *testing.T, dir string) map[string][]types.Resource {
	t.Helper()
	in, pod, want := loadCase(t, dir)
	res, err := Generate(in, pod)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	for typeURL, items := range res {
		for _, r := range items {
			if err := validateDeep(r); err != nil {
				t.Errorf("%s: invalid resource: %v", typeURL, err)
			}
		}
	}
	if _, err := NewSnapshot(res); err != nil {
		t.Errorf("NewSnapshot: %v", err)
	}
	if got := missingClusters(res); !slices.Equal(got, want.MissingClusters) {
		t.Errorf("clusters referenced but not defined: %q, want %q", got, want.MissingClusters)
	}
	return res
}

// podsFile is testdata/<case>/pods.yaml.
type podsFile struct {
	Proxy string    `json:"proxy"` // namespace/name of the pod to generate for
	Pods  []testPod `json:"pods"`
	// MissingClusters lists the clusters that routes may name without CDS
	// defining them (a subset no DestinationRule defines for this proxy).
	MissingClusters []string `json:"missingClusters"`
}

type testPod struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace"` // "default" when empty
	Labels          map[string]string `json:"labels"`
	ServiceAccount  string            `json:"serviceAccount"`
	OutboundAddress string            `json:"outboundAddress"`
	IP              string            `json:"ip"` // transparent mode
	NotReady        bool              `json:"notReady"`
	Ports           []struct {
		Name           string `json:"name"`
		ContainerPort  uint32 `json:"containerPort"`
		AppAddress     string `json:"appAddress"`
		InboundAddress string `json:"inboundAddress"`
	} `json:"ports"`
}

func (p testPod) pod() registry.Pod {
	out := registry.Pod{
		Name:            p.Name,
		Namespace:       p.Namespace,
		Labels:          p.Labels,
		ServiceAccount:  p.ServiceAccount,
		OutboundAddress: p.OutboundAddress,
		IP:              p.IP,
		Ready:           !p.NotReady,
	}
	if out.Namespace == "" {
		out.Namespace = "default"
	}
	out.ProxyID = fmt.Sprintf("sidecar~127.0.0.1~%s.%s~%s.svc.cluster.local", out.Name, out.Namespace, out.Namespace)
	for _, pp := range p.Ports {
		out.Ports = append(out.Ports, registry.PodPort(pp))
	}
	return out
}

func loadCase(t *testing.T, dir string) (*Input, *registry.Pod, *podsFile) {
	t.Helper()
	snap := loadConfig(t, filepath.Join(dir, "input.yaml"))
	data, err := os.ReadFile(filepath.Join(dir, "pods.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pf podsFile
	if err := yaml.UnmarshalStrict(data, &pf); err != nil {
		t.Fatalf("pods.yaml: %v", err)
	}
	var pods []registry.Pod
	for _, p := range pf.Pods {
		pods = append(pods, p.pod())
	}
	model, warnings := registry.Build(snap, pods, registry.DefaultDomainSuffix)
	for _, w := range warnings {
		t.Logf("registry: %s", w)
	}
	in := &Input{
		Model:               model,
		VirtualServices:     snap.VirtualServices,
		DestinationRules:    snap.DestinationRules,
		DomainSuffix:        registry.DefaultDomainSuffix,
		Mesh:                snap.Mesh,
		Telemetries:         snap.Telemetries,
		Sidecars:            snap.Sidecars,
		PeerAuthentications: snap.PeerAuthentications,

		RequestAuthentications: snap.RequestAuthentications,
		JWKS:                   testJWKS{},
		AuthorizationPolicies:  snap.AuthorizationPolicies,
	}
	for i := range model.Pods {
		if p := &model.Pods[i]; p.Namespace+"/"+p.Name == pf.Proxy {
			return in, p, &pf
		}
	}
	t.Fatalf("pods.yaml: proxy %q is not a pod", pf.Proxy)
	return nil, nil, nil
}

// render turns resources into a readable, stable YAML list: protojson with
// proto field names, re-encoded with sorted keys (protojson's own
// whitespace is deliberately unstable).
func render(t *testing.T, items []types.Resource) []byte {
	t.Helper()
	list := make([]json.RawMessage, 0, len(items))
	for _, r := range items {
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(r)
		if err != nil {
			t.Fatalf("protojson: %v", err)
		}
		list = append(list, b)
	}
	j, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./internal/xds -update` to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (-want +got; `go test ./internal/xds -update` rewrites it):\n%s",
			path, lineDiff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n")))
	}
}
