package hcm

import (
	"net/http"
	"testing"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

// refuse answers every request 403, as an authorization filter does.
type refuse struct{}

func (refuse) OnRequest(x *Exchange) bool {
	x.SendLocalReply(http.StatusForbidden, RBACAccessDenied, "denied", "denied")
	return false
}
func (refuse) OnResponse(*Exchange, int, http.Header) {}

// TestInboundFilterReply: an inbound request a filter answers keeps the
// client's peer metadata and the destination service in its info, for
// the metrics, although it never reaches the router.
func TestInboundFilterReply(t *testing.T) {
	rg := newRig(t, []clusterSpec{{name: "inbound|9080||", addrs: []string{deadAddr(t)}}},
		table(vhost(router.RouteConfig{Name: "r", Match: prefix("/"), Action: router.Action{Cluster: "inbound|9080||"}})))
	if err := rg.um.UpdateClusters([]upstream.Config{{Name: "inbound|9080||", Type: upstream.Static, Service: "reviews.default.svc.cluster.local",
		Endpoints: []upstream.EndpointConfig{{Address: deadAddr(t), Weight: 1}}}}); err != nil {
		t.Fatal(err)
	}
	cfg := &Config{RouteConfigName: "r", Inbound: true, Filters: []Filter{refuse{}}}
	rg.front.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rg.srv.Serve(w, r, "inbound|9080", cfg) })
	resp, body := rg.do("GET", "/", http.Header{PeerMetadataHeader: {"client-workload"}}, nil)
	info := rg.last()
	if resp.StatusCode != 403 || body != "denied" || info.Flags.String() != "RBAC" {
		t.Fatalf("%d %q %s", resp.StatusCode, body, info.Flags)
	}
	if info.PeerMetadata != "client-workload" || info.Service != "reviews.default.svc.cluster.local" {
		t.Errorf("peer metadata %q, service %q", info.PeerMetadata, info.Service)
	}
}
