package compile

import (
	"errors"
	"fmt"
	"slices"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// defaultConnectTimeout is Envoy's default connect_timeout.
const defaultConnectTimeout = 5 * time.Second

// Clusters compiles a CDS resource set. It returns the clusters and the
// sorted EDS service names they need.
func Clusters(res []*clusterv3.Cluster) ([]upstream.Config, []string, error) {
	out := make([]upstream.Config, 0, len(res))
	var eds []string
	for _, c := range res {
		cfg, err := compileCluster(c)
		if err != nil {
			return nil, nil, &Error{Kind: "cluster", Name: c.GetName(), Err: err}
		}
		if cfg.Type == upstream.EDS {
			eds = append(eds, cfg.EDSServiceName)
		}
		out = append(out, cfg)
	}
	slices.Sort(eds)
	return out, slices.Compact(eds), nil
}

func compileCluster(c *clusterv3.Cluster) (upstream.Config, error) {
	cfg := upstream.Config{Name: c.GetName()}
	if cfg.Name == "" {
		return cfg, errors.New("cluster has no name")
	}
	switch t := c.GetClusterDiscoveryType().(type) {
	case *clusterv3.Cluster_Type:
		switch t.Type {
		case clusterv3.Cluster_EDS:
			cfg.Type = upstream.EDS
			cfg.EDSServiceName = c.GetEdsClusterConfig().GetServiceName()
			if cfg.EDSServiceName == "" {
				cfg.EDSServiceName = cfg.Name
			}
		case clusterv3.Cluster_STATIC:
			cfg.Type = upstream.Static
		case clusterv3.Cluster_STRICT_DNS:
			cfg.Type = upstream.StrictDNS
		case clusterv3.Cluster_LOGICAL_DNS:
			cfg.Type = upstream.LogicalDNS
		case clusterv3.Cluster_ORIGINAL_DST:
			cfg.Type = upstream.OriginalDst
		default:
			return cfg, fmt.Errorf("unknown cluster type %v", t.Type)
		}
	case *clusterv3.Cluster_ClusterType:
		return cfg, fmt.Errorf("unknown cluster type %q", t.ClusterType.GetName())
	default:
		// Envoy's default discovery type is STATIC.
		cfg.Type = upstream.Static
	}

	switch c.GetLbPolicy() {
	case clusterv3.Cluster_ROUND_ROBIN:
		cfg.Policy = upstream.RoundRobin
	case clusterv3.Cluster_LEAST_REQUEST:
		cfg.Policy = upstream.LeastRequest
	case clusterv3.Cluster_RANDOM:
		cfg.Policy = upstream.Random
	case clusterv3.Cluster_CLUSTER_PROVIDED:
		if cfg.Type != upstream.OriginalDst {
			return cfg, errors.New("lb_policy CLUSTER_PROVIDED is only valid for ORIGINAL_DST clusters")
		}
	default:
		return cfg, fmt.Errorf("unsupported lb_policy %v", c.GetLbPolicy())
	}

	d, err := duration(c.GetConnectTimeout(), defaultConnectTimeout)
	if err != nil {
		return cfg, fmt.Errorf("connect_timeout: %w", err)
	}
	cfg.ConnectTimeout = d

	cfg.Protocol = upstream.HTTP1
	if c.GetHttp2ProtocolOptions() != nil { //nolint:staticcheck // deprecated field still honoured
		cfg.Protocol = upstream.H2C
	}
	if a, ok := c.GetTypedExtensionProtocolOptions()[httpProtocolOptionsKey]; ok {
		po := &httpv3.HttpProtocolOptions{}
		if err := a.UnmarshalTo(po); err != nil {
			return cfg, fmt.Errorf("%s: %w", httpProtocolOptionsKey, err)
		}
		if po.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil {
			cfg.Protocol = upstream.H2C
		}
	}
	if c.GetTransportSocket() != nil || len(c.GetTransportSocketMatches()) > 0 {
		return cfg, errors.New("transport sockets (TLS) are not supported")
	}

	if cfg.Type != upstream.EDS && cfg.Type != upstream.OriginalDst {
		if la := c.GetLoadAssignment(); la != nil {
			eps, err := lbEndpoints(la)
			if err != nil {
				return cfg, fmt.Errorf("load_assignment: %w", err)
			}
			cfg.Endpoints = eps
		}
	}
	return cfg, nil
}
