package compile

import (
	"errors"
	"fmt"
	"slices"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// Envoy's defaults.
const (
	defaultConnectTimeout = 5 * time.Second
	defaultIdleTimeout    = time.Hour // common_http_protocol_options.idle_timeout
	defaultPanicThreshold = 50        // common_lb_config.healthy_panic_threshold
)

// Clusters compiles a CDS resource set. It returns the clusters and the
// sorted EDS service names they need.
func Clusters(res []*clusterv3.Cluster) ([]upstream.Config, []string, error) {
	return ClustersWith(res, nil)
}

// ClustersWith is Clusters for a proxy whose workload identity is sec
// (nil: none; clusters then dial plaintext, see clusterTLS).
func ClustersWith(res []*clusterv3.Cluster, sec Secrets) ([]upstream.Config, []string, error) {
	return ClustersFrom(SliceSeq(res), sec)
}

// ClustersFrom is ClustersWith over a sequence of resources.
func ClustersFrom(res Seq[*clusterv3.Cluster], sec Secrets) ([]upstream.Config, []string, error) {
	var out []upstream.Config
	var eds []string
	err := res(func(c *clusterv3.Cluster) error {
		cfg, err := compileCluster(c, sec)
		if err != nil {
			return &Error{Kind: "cluster", Name: c.GetName(), Err: err}
		}
		if cfg.Type == upstream.EDS {
			eds = append(eds, cfg.EDSServiceName)
		}
		out = append(out, cfg)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(eds)
	return out, slices.Compact(eds), nil
}

func compileCluster(c *clusterv3.Cluster, sec Secrets) (upstream.Config, error) {
	cfg := upstream.Config{Name: c.GetName(), Service: clusterService(c.GetMetadata())}
	if cfg.Name == "" {
		return cfg, errors.New("cluster has no name")
	}
	if err := discoveryType(c, &cfg); err != nil {
		return cfg, err
	}
	if err := lbPolicy(c, &cfg); err != nil {
		return cfg, err
	}
	d, err := duration(c.GetConnectTimeout(), defaultConnectTimeout)
	if err != nil {
		return cfg, fmt.Errorf("connect_timeout: %w", err)
	}
	cfg.ConnectTimeout = d
	cfg.Limits = thresholds(c.GetCircuitBreakers())
	if err := protocolOptions(c, &cfg); err != nil {
		return cfg, err
	}
	if ka := c.GetUpstreamConnectionOptions().GetTcpKeepalive(); ka != nil {
		cfg.Pool.TCPKeepalive = &upstream.Keepalive{
			Probes:   ka.GetKeepaliveProbes().GetValue(),
			Time:     time.Duration(ka.GetKeepaliveTime().GetValue()) * time.Second,
			Interval: time.Duration(ka.GetKeepaliveInterval().GetValue()) * time.Second,
		}
	}
	if od := c.GetOutlierDetection(); od != nil {
		o, err := outlierDetection(od)
		if err != nil {
			return cfg, fmt.Errorf("outlier_detection: %w", err)
		}
		cfg.Outlier = o
	}
	cfg.HealthyPanicThreshold = defaultPanicThreshold
	if p := c.GetCommonLbConfig().GetHealthyPanicThreshold(); p != nil {
		cfg.HealthyPanicThreshold = p.GetValue()
	}
	if cfg.TLS, err = clusterTLS(c, sec); err != nil { // tls.go
		return cfg, err
	}
	if len(c.GetHealthChecks()) > 0 {
		return cfg, errors.New("active health checks are not supported")
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
	if cfg.Type == upstream.StrictDNS {
		if err := dnsSettings(c, &cfg); err != nil {
			return cfg, err
		}
	}
	if err := upstream.Validate(&cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func discoveryType(c *clusterv3.Cluster, cfg *upstream.Config) error {
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
			return fmt.Errorf("unknown cluster type %v", t.Type)
		}
	case *clusterv3.Cluster_ClusterType:
		return fmt.Errorf("unknown cluster type %q", t.ClusterType.GetName())
	default:
		// Envoy's default discovery type is STATIC.
		cfg.Type = upstream.Static
	}
	return nil
}

// dnsSettings reads a STRICT_DNS cluster's dns_refresh_rate (Envoy's 5 s
// when not set) and dns_lookup_family.
func dnsSettings(c *clusterv3.Cluster, cfg *upstream.Config) error {
	d, err := duration(c.GetDnsRefreshRate(), upstream.DefaultDNSRefreshRate)
	if err != nil || d <= 0 {
		return fmt.Errorf("dns_refresh_rate: must be positive: %v", c.GetDnsRefreshRate())
	}
	cfg.DNSRefreshRate = d
	switch c.GetDnsLookupFamily() {
	case clusterv3.Cluster_AUTO:
		cfg.DNSLookupFamily = upstream.Auto
	case clusterv3.Cluster_V4_ONLY:
		cfg.DNSLookupFamily = upstream.V4Only
	case clusterv3.Cluster_V6_ONLY:
		cfg.DNSLookupFamily = upstream.V6Only
	case clusterv3.Cluster_V4_PREFERRED:
		cfg.DNSLookupFamily = upstream.V4Preferred
	case clusterv3.Cluster_ALL:
		cfg.DNSLookupFamily = upstream.All
	default:
		return fmt.Errorf("dns_lookup_family %v is not supported", c.GetDnsLookupFamily())
	}
	return nil
}

func lbPolicy(c *clusterv3.Cluster, cfg *upstream.Config) error {
	if c.GetLoadBalancingPolicy() != nil {
		return errors.New("load_balancing_policy (extension load balancers) is not supported")
	}
	if c.GetLbSubsetConfig() != nil {
		return errors.New("lb_subset_config is not supported")
	}
	switch c.GetLbPolicy() {
	case clusterv3.Cluster_ROUND_ROBIN:
		cfg.Policy = upstream.RoundRobin
	case clusterv3.Cluster_LEAST_REQUEST:
		cfg.Policy = upstream.LeastRequest
	case clusterv3.Cluster_RANDOM:
		cfg.Policy = upstream.Random
	case clusterv3.Cluster_RING_HASH:
		cfg.Policy = upstream.RingHash
		rh := c.GetRingHashLbConfig()
		cfg.LB.MinRingSize = rh.GetMinimumRingSize().GetValue()
		cfg.LB.MaxRingSize = rh.GetMaximumRingSize().GetValue()
	case clusterv3.Cluster_MAGLEV:
		cfg.Policy = upstream.Maglev
		cfg.LB.MaglevTableSize = c.GetMaglevLbConfig().GetTableSize().GetValue()
	case clusterv3.Cluster_CLUSTER_PROVIDED:
		if cfg.Type != upstream.OriginalDst {
			return errors.New("lb_policy CLUSTER_PROVIDED is only valid for ORIGINAL_DST clusters")
		}
	default:
		return fmt.Errorf("unsupported lb_policy %v", c.GetLbPolicy())
	}
	return nil
}

// thresholds returns the DEFAULT-priority circuit breakers, each absent
// field at Envoy's default.
func thresholds(cb *clusterv3.CircuitBreakers) *upstream.Thresholds {
	t := upstream.DefaultThresholds
	for _, th := range cb.GetThresholds() {
		if th.GetPriority() != corev3.RoutingPriority_DEFAULT {
			continue
		}
		t.MaxConnections = uint32Or(th.GetMaxConnections(), t.MaxConnections)
		t.MaxPendingRequests = uint32Or(th.GetMaxPendingRequests(), t.MaxPendingRequests)
		t.MaxRequests = uint32Or(th.GetMaxRequests(), t.MaxRequests)
		t.MaxRetries = uint32Or(th.GetMaxRetries(), t.MaxRetries)
		break
	}
	return &t
}

func uint32Or(v *wrapperspb.UInt32Value, def uint32) uint32 {
	if v == nil {
		return def
	}
	return v.GetValue()
}

// protocolOptions reads the upstream protocol and the HTTP connection pool
// options: HttpProtocolOptions (typed_extension_protocol_options) first,
// then the deprecated cluster fields.
func protocolOptions(c *clusterv3.Cluster, cfg *upstream.Config) error {
	cfg.Protocol = upstream.HTTP1
	h2 := c.GetHttp2ProtocolOptions()          //nolint:staticcheck // deprecated field still honoured
	common := c.GetCommonHttpProtocolOptions() //nolint:staticcheck
	perConn := c.GetMaxRequestsPerConnection() //nolint:staticcheck
	if a, ok := c.GetTypedExtensionProtocolOptions()[httpProtocolOptionsKey]; ok {
		po := &httpv3.HttpProtocolOptions{}
		if err := a.UnmarshalTo(po); err != nil {
			return fmt.Errorf("%s: %w", httpProtocolOptionsKey, err)
		}
		if x := po.GetExplicitHttpConfig().GetHttp2ProtocolOptions(); x != nil {
			h2 = x
		}
		if po.GetUseDownstreamProtocolConfig() != nil || po.GetAutoConfig() != nil {
			return fmt.Errorf("%s: only explicit_http_config is supported", httpProtocolOptionsKey)
		}
		if x := po.GetCommonHttpProtocolOptions(); x != nil {
			common = x
		}
	}
	if h2 != nil {
		cfg.Protocol = upstream.H2C
		cfg.Pool.HTTP2 = upstream.HTTP2Options{
			InitialStreamWindowSize:     h2.GetInitialStreamWindowSize().GetValue(),
			InitialConnectionWindowSize: h2.GetInitialConnectionWindowSize().GetValue(),
			HpackTableSize:              h2.GetHpackTableSize().GetValue(),
		}
		if ka := h2.GetConnectionKeepalive(); ka != nil {
			var err error
			if cfg.Pool.HTTP2.KeepaliveInterval, err = duration(ka.GetInterval(), 0); err != nil {
				return fmt.Errorf("http2_protocol_options.connection_keepalive.interval: %w", err)
			}
			if cfg.Pool.HTTP2.KeepaliveTimeout, err = duration(ka.GetTimeout(), 0); err != nil {
				return fmt.Errorf("http2_protocol_options.connection_keepalive.timeout: %w", err)
			}
		}
	}
	idle, err := duration(common.GetIdleTimeout(), defaultIdleTimeout)
	if err != nil {
		return fmt.Errorf("common_http_protocol_options.idle_timeout: %w", err)
	}
	cfg.Pool.IdleTimeout = idle
	if n := common.GetMaxRequestsPerConnection(); n != nil {
		perConn = n
	}
	cfg.Pool.MaxRequestsPerConnection = perConn.GetValue()
	return nil
}

// outlierDetection fills in Envoy's default for every absent field.
func outlierDetection(od *clusterv3.OutlierDetection) (*upstream.OutlierConfig, error) {
	d := upstream.DefaultOutlier
	var err error
	if d.Interval, err = duration(od.GetInterval(), d.Interval); err != nil {
		return nil, fmt.Errorf("interval: %w", err)
	}
	if d.Interval <= 0 {
		return nil, errors.New("interval must be positive")
	}
	if d.BaseEjectionTime, err = duration(od.GetBaseEjectionTime(), d.BaseEjectionTime); err != nil {
		return nil, fmt.Errorf("base_ejection_time: %w", err)
	}
	// Envoy: max_ejection_time defaults to 300s or base_ejection_time,
	// whichever is larger.
	if d.MaxEjectionTime, err = duration(od.GetMaxEjectionTime(), max(d.MaxEjectionTime, d.BaseEjectionTime)); err != nil {
		return nil, fmt.Errorf("max_ejection_time: %w", err)
	}
	if d.MaxEjectionTimeJitter, err = duration(od.GetMaxEjectionTimeJitter(), 0); err != nil {
		return nil, fmt.Errorf("max_ejection_time_jitter: %w", err)
	}
	d.MaxEjectionPercent = min(uint32Or(od.GetMaxEjectionPercent(), d.MaxEjectionPercent), 100)
	d.AlwaysEjectOneHost = boolValue(od.GetAlwaysEjectOneHost(), false)
	d.Consecutive5xx = uint32Or(od.GetConsecutive_5Xx(), d.Consecutive5xx)
	d.EnforcingConsecutive5xx = uint32Or(od.GetEnforcingConsecutive_5Xx(), d.EnforcingConsecutive5xx)
	d.ConsecutiveGatewayFailure = uint32Or(od.GetConsecutiveGatewayFailure(), d.ConsecutiveGatewayFailure)
	d.EnforcingConsecutiveGatewayFailure = uint32Or(od.GetEnforcingConsecutiveGatewayFailure(), d.EnforcingConsecutiveGatewayFailure)
	d.SplitExternalLocalOriginErrors = od.GetSplitExternalLocalOriginErrors()
	d.ConsecutiveLocalOriginFailure = uint32Or(od.GetConsecutiveLocalOriginFailure(), d.ConsecutiveLocalOriginFailure)
	d.EnforcingConsecutiveLocalOriginFailure = uint32Or(od.GetEnforcingConsecutiveLocalOriginFailure(), d.EnforcingConsecutiveLocalOriginFailure)
	return &d, nil
}
