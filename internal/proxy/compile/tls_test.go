package compile

import (
	"crypto/tls"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"

	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

// fakeSecrets stands for the workload identity; ClientTLSConfig records
// the SANs in ServerName's place so that tests can see them.
type fakeSecrets struct{}

func (fakeSecrets) ServerTLSConfig() *tls.Config {
	return &tls.Config{ClientAuth: tls.RequireAnyClientCert}
}
func (fakeSecrets) ClientTLSConfig(sans []string) *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: strings.Join(sans, ",")}
}

// TestGoldenMutualTLS compiles the peer-authentication golden case: the
// TLS of the clusters, the tlsMode of the endpoints and the mode of each
// inbound listener.
func TestGoldenMutualTLS(t *testing.T) {
	dir := "../../xds/testdata/peer-authentication"
	cs := readGolden(t, filepath.Join(dir, "clusters.golden.yaml"), func() *clusterv3.Cluster { return &clusterv3.Cluster{} })
	cfgs, _, err := ClustersWith(cs, fakeSecrets{})
	if err != nil {
		t.Fatal(err)
	}
	tlsOf := map[string]string{} // cluster -> ALPN, "" without TLS
	for _, c := range cfgs {
		if c.TLS != nil {
			tlsOf[c.Name] = strings.Join(c.TLS.Config.NextProtos, ",")
		} else {
			tlsOf[c.Name] = ""
		}
	}
	want := map[string]string{
		"outbound|9080||reviews.default.svc.cluster.local": "istio-peer-exchange,istio,istio-http/1.1",
		"outbound|3306||db.default.svc.cluster.local":      "istio-peer-exchange,istio",
		"outbound|9080||details.default.svc.cluster.local": "", // DestinationRule tls DISABLE
		"PassthroughCluster":                               "",
	}
	for name, alpn := range want {
		if got, ok := tlsOf[name]; !ok || got != alpn {
			t.Errorf("cluster %s: ALPN %q (present %v), want %q", name, got, ok, alpn)
		}
	}
	// Without an identity nothing is TLS.
	plain, _, err := Clusters(cs)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range plain {
		if c.TLS != nil {
			t.Errorf("cluster %s has TLS without an identity", c.Name)
		}
	}

	eps := readGolden(t, filepath.Join(dir, "endpoints.golden.yaml"), func() *endpointv3.ClusterLoadAssignment {
		return &endpointv3.ClusterLoadAssignment{}
	})
	assign, err := Endpoints(eps)
	if err != nil {
		t.Fatal(err)
	}
	for name, mtls := range map[string]bool{
		"outbound|9080||reviews.default.svc.cluster.local": true,
		"outbound|9080||ratings.default.svc.cluster.local": false, // no sidecar
	} {
		got := assign[name]
		if len(got) == 0 || slices.ContainsFunc(got, func(e upstream.EndpointConfig) bool { return e.MTLS != mtls }) {
			t.Errorf("%s: endpoints %+v, want MTLS %v", name, got, mtls)
		}
	}

	ls := readGolden(t, filepath.Join(dir, "listeners.golden.yaml"), func() *listenerv3.Listener { return &listenerv3.Listener{} })
	lcs, _, err := ListenersWith(ls, Telemetry{Secrets: fakeSecrets{}})
	if err != nil {
		t.Fatal(err)
	}
	mode := map[string]string{}
	for _, l := range lcs {
		switch {
		case l.DownstreamTLS == nil:
			mode[l.Name] = "DISABLE"
		case l.DownstreamTLS.AllowPlaintext:
			mode[l.Name] = "PERMISSIVE"
		default:
			mode[l.Name] = "STRICT"
		}
		if l.DownstreamTLS != nil && l.HTTP == nil {
			t.Errorf("%s: the TLS chain lost its HTTP connection manager", l.Name)
		}
	}
	for name, m := range map[string]string{"inbound|9080": "PERMISSIVE", "inbound|9090": "DISABLE", "inbound|9091": "PERMISSIVE"} {
		if mode[name] != m {
			t.Errorf("%s: %s, want %s", name, mode[name], m)
		}
	}
}

// TestTransportSocketErrors: shapes the proxy cannot honour are refused.
func TestTransportSocketErrors(t *testing.T) {
	dir := "../../xds/testdata/peer-authentication"
	ls := readGolden(t, filepath.Join(dir, "listeners.golden.yaml"), func() *listenerv3.Listener { return &listenerv3.Listener{} })
	var in *listenerv3.Listener
	for _, l := range ls {
		if l.GetName() == "inbound|9080" {
			in = l
		}
	}
	if in == nil {
		t.Fatal("no inbound|9080")
	}
	strict := proto.Clone(in).(*listenerv3.Listener)
	strict.FilterChains = strict.FilterChains[:1] // the tls chain only: STRICT
	if _, _, err := Listeners([]*listenerv3.Listener{strict}); err == nil || !strings.Contains(err.Error(), "workload identity") {
		t.Errorf("STRICT without an identity: %v", err)
	}
	lcs, _, err := ListenersWith([]*listenerv3.Listener{strict}, Telemetry{Secrets: fakeSecrets{}})
	if err != nil || lcs[0].DownstreamTLS == nil || lcs[0].DownstreamTLS.AllowPlaintext {
		t.Errorf("STRICT: %+v, %v", lcs, err)
	}
	noTS := proto.Clone(in).(*listenerv3.Listener)
	noTS.FilterChains[0].TransportSocket = nil
	if _, _, err := ListenersWith([]*listenerv3.Listener{noTS}, Telemetry{Secrets: fakeSecrets{}}); err == nil {
		t.Error("a tls chain without a transport socket compiled")
	}
	diff := proto.Clone(in).(*listenerv3.Listener)
	diff.FilterChains[1].Filters = nil
	if _, _, err := ListenersWith([]*listenerv3.Listener{diff}, Telemetry{Secrets: fakeSecrets{}}); err == nil {
		t.Error("raw_buffer and tls chains with different filters compiled")
	}
}
