package compile

import (
	"encoding/json"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/halyard-mesh/halyard/internal/proxy/listener"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

// readGolden decodes a control-plane golden file (a YAML list of protos).
func readGolden[T proto.Message](t *testing.T, path string, newT func() T) []T {
	t.Helper()
	y, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatal(err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(j, &raw); err != nil {
		t.Fatal(err)
	}
	out := make([]T, len(raw))
	for i, r := range raw {
		out[i] = newT()
		if err := protojson.Unmarshal(r, out[i]); err != nil {
			t.Fatalf("%s #%d: %v", path, i, err)
		}
	}
	return out
}

// TestGoldenResources compiles every cluster and listener the control
// plane's golden tests produce: what the proxy will receive must never be
// NACKed.
func TestGoldenResources(t *testing.T) {
	cases, err := filepath.Glob("../../xds/testdata/*/clusters.golden.yaml")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, c := range cases {
		dir := filepath.Dir(c)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cs := readGolden(t, filepath.Join(dir, "clusters.golden.yaml"), func() *clusterv3.Cluster { return &clusterv3.Cluster{} })
			localizeFiles(t, cs)
			if _, _, err := Clusters(cs); err != nil {
				t.Errorf("clusters: %v", err)
			}
			if _, _, err := ClustersWith(cs, fakeSecrets{}); err != nil {
				t.Errorf("clusters with an identity: %v", err)
			}
			ls := readGolden(t, filepath.Join(dir, "listeners.golden.yaml"), func() *listenerv3.Listener { return &listenerv3.Listener{} })
			if _, _, err := Listeners(ls); err != nil && !strings.Contains(err.Error(), "STRICT") {
				t.Errorf("listeners: %v", err)
			}
			if _, _, err := ListenersWith(ls, Telemetry{Secrets: fakeSecrets{}}); err != nil {
				t.Errorf("listeners with an identity: %v", err)
			}
			rs := readGolden(t, filepath.Join(dir, "routes.golden.yaml"), func() *routev3.RouteConfiguration { return &routev3.RouteConfiguration{} })
			if _, err := Routes(rs); err != nil {
				t.Errorf("routes: %v", err)
			}
		})
	}
}

// TestGoldenTrafficPolicy checks how the DestinationRule fields of the
// golden cases arrive in the proxy.
func TestGoldenTrafficPolicy(t *testing.T) {
	clusters := func(dir string) map[string]upstream.Config {
		cs := readGolden(t, filepath.Join("../../xds/testdata", dir, "clusters.golden.yaml"), func() *clusterv3.Cluster { return &clusterv3.Cluster{} })
		cfgs, _, err := Clusters(cs)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]upstream.Config{}
		for _, c := range cfgs {
			out[c.Name] = c
		}
		return out
	}
	pool := clusters("connection-pool-outlier")
	p := pool["outbound|8080||payments.default.svc.cluster.local"]
	if *p.Limits != (upstream.Thresholds{MaxConnections: 100, MaxPendingRequests: 50, MaxRequests: 200, MaxRetries: 5}) {
		t.Errorf("limits %+v", *p.Limits)
	}
	if p.ConnectTimeout.Seconds() != 3 || p.Pool.IdleTimeout.Seconds() != 60 || p.Pool.MaxRequestsPerConnection != 10 {
		t.Errorf("pool %v %+v", p.ConnectTimeout, p.Pool)
	}
	if ka := p.Pool.TCPKeepalive; ka == nil || ka.Probes != 3 || ka.Time.Seconds() != 600 || ka.Interval.Seconds() != 75 {
		t.Errorf("keepalive %+v", ka)
	}
	od := p.Outlier
	if od == nil || od.Consecutive5xx != 7 || od.EnforcingConsecutive5xx != 100 || od.ConsecutiveGatewayFailure != 0 ||
		od.Interval.Seconds() != 5 || od.BaseEjectionTime.Seconds() != 60 || od.MaxEjectionTime.Seconds() != 300 ||
		od.MaxEjectionPercent != 50 || !od.SplitExternalLocalOriginErrors || od.ConsecutiveLocalOriginFailure != 4 {
		t.Errorf("outlier %+v", od)
	}
	if p.HealthyPanicThreshold != 25 {
		t.Errorf("panic threshold %v", p.HealthyPanicThreshold)
	}
	l := pool["outbound|7070||ledger.default.svc.cluster.local"]
	if l.HealthyPanicThreshold != 0 || l.Pool.IdleTimeout != 0 || l.Outlier.Consecutive5xx != 5 ||
		l.Outlier.ConsecutiveGatewayFailure != 3 || l.Outlier.EnforcingConsecutiveGatewayFailure != 100 || l.Outlier.MaxEjectionPercent != 10 {
		t.Errorf("ledger: panic %v idle %v outlier %+v", l.HealthyPanicThreshold, l.Pool.IdleTimeout, l.Outlier)
	}
	if h2 := pool["outbound|8080|h2|payments.default.svc.cluster.local"]; h2.Protocol != upstream.H2C || h2.Pool.IdleTimeout.Hours() != 1 {
		t.Errorf("h2 subset %+v", h2)
	}
	if pt := pool["PassthroughCluster"]; pt.Type != upstream.OriginalDst || pt.Limits.MaxConnections != 4294967295 || pt.HealthyPanicThreshold != 50 || pt.Outlier != nil {
		t.Errorf("passthrough %+v", pt)
	}

	hash := clusters("lb-hash")
	for name, want := range map[string]upstream.Config{
		"outbound|8080||cart.default.svc.cluster.local":       {Policy: upstream.RingHash, LB: upstream.LBConfig{MinRingSize: 2048}},
		"outbound|8080|cookie|cart.default.svc.cluster.local": {Policy: upstream.Maglev, LB: upstream.LBConfig{MaglevTableSize: 65537}},
		"outbound|8080|query|cart.default.svc.cluster.local":  {Policy: upstream.RingHash, LB: upstream.LBConfig{MinRingSize: 1024}},
		"outbound|8080|plain|cart.default.svc.cluster.local":  {Policy: upstream.LeastRequest},
		"outbound|8080|direct|cart.default.svc.cluster.local": {Type: upstream.OriginalDst},
		"outbound|6379||cache.default.svc.cluster.local":      {Policy: upstream.RingHash, LB: upstream.LBConfig{MinRingSize: 1024}},
	} {
		got := hash[name]
		if got.Policy != want.Policy || got.LB != want.LB || want.Type == upstream.OriginalDst && got.Type != want.Type {
			t.Errorf("%s: %v %+v %v", name, got.Policy, got.LB, got.Type)
		}
	}

	ls := readGolden(t, "../../xds/testdata/tcp-tls-routes/listeners.golden.yaml", func() *listenerv3.Listener { return &listenerv3.Listener{} })
	cfgs, _, err := Listeners(ls)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]listener.Config{}
	for _, c := range cfgs {
		byName[c.Name] = c
	}
	tls := byName["0.0.0.0_443"]
	if tls.Chains == nil || !tls.Chains.NeedsSNI() {
		t.Fatalf("0.0.0.0_443: %+v", tls)
	}
	for sni, want := range map[string]string{
		"eu.api.example.com": "outbound|443|eu|api.example.com", "us.api.example.com": "outbound|443|us|api.example.com",
		"api.example.com": "outbound|443|us|api.example.com", "login.example.com": "outbound|443||login.example.com",
	} {
		if got := tls.Chains.Match(sni); got == nil || got.Cluster != want || got.IdleTimeout.Hours() != 1 {
			t.Errorf("SNI %s: %+v, want %s", sni, got, want)
		}
	}
	if tls.Chains.Match("other.example.com") != nil {
		t.Error("an unknown SNI must match no chain")
	}
	db := byName["0.0.0.0_5432"]
	if db.TCP == nil || len(db.TCP.Weighted) != 2 || db.TCP.Weighted[0].Weight != 80 || db.TCP.IdleTimeout.Minutes() != 15 {
		t.Errorf("0.0.0.0_5432: %+v", db.TCP)
	}
}
