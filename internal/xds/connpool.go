package xds

import (
	"math"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/halyard-mesh/halyard/internal/registry"
)

// applyConnectionPool applies a connection pool (nil: none) as Istio's
// applyConnectionPool does, which it does for every cluster:
//
//   - circuit_breakers.thresholds: one DEFAULT-priority threshold whose
//     max_connections (tcp.maxConnections), max_pending_requests
//     (http.http1MaxPendingRequests), max_requests (http.http2MaxRequests)
//     and max_retries (http.maxRetries) are the value when it is > 0 and
//     4294967295 otherwise, with track_remaining;
//   - connect_timeout: tcp.connectTimeout, else 10s;
//   - upstream_connection_options.tcp_keepalive: when tcp.tcpKeepalive is
//     set (SO_KEEPALIVE), with keepalive_probes, keepalive_time and
//     keepalive_interval (whole seconds) for the values given.
func applyConnectionPool(c *cluster.Cluster, pool *networking.ConnectionPoolSettings) {
	t := &cluster.CircuitBreakers_Thresholds{
		MaxConnections:     limit(pool.GetTcp().GetMaxConnections()),
		MaxPendingRequests: limit(pool.GetHttp().GetHttp1MaxPendingRequests()),
		MaxRequests:        limit(pool.GetHttp().GetHttp2MaxRequests()),
		MaxRetries:         limit(pool.GetHttp().GetMaxRetries()),
		TrackRemaining:     true,
	}
	c.CircuitBreakers = &cluster.CircuitBreakers{Thresholds: []*cluster.CircuitBreakers_Thresholds{t}}
	c.ConnectTimeout = durationpb.New(ConnectTimeout)
	if ct := pool.GetTcp().GetConnectTimeout(); ct != nil {
		c.ConnectTimeout = ct
	}
	if ka := pool.GetTcp().GetTcpKeepalive(); ka != nil {
		c.UpstreamConnectionOptions = &cluster.UpstreamConnectionOptions{TcpKeepalive: tcpKeepalive(ka)}
	}
}

// limit is a circuit breaker threshold: the value if positive, else
// unlimited (Istio's default, instead of Envoy's 1024 and 3 retries).
func limit(v int32) *wrapperspb.UInt32Value {
	if v > 0 {
		return wrapperspb.UInt32(uint32(v))
	}
	return wrapperspb.UInt32(math.MaxUint32)
}

func tcpKeepalive(ka *networking.ConnectionPoolSettings_TCPSettings_TcpKeepalive) *core.TcpKeepalive {
	out := &core.TcpKeepalive{}
	if ka.Probes > 0 {
		out.KeepaliveProbes = wrapperspb.UInt32(ka.Probes)
	}
	if ka.Time != nil {
		out.KeepaliveTime = wrapperspb.UInt32(uint32(ka.Time.GetSeconds()))
	}
	if ka.Interval != nil {
		out.KeepaliveInterval = wrapperspb.UInt32(uint32(ka.Interval.GetSeconds()))
	}
	return out
}

// upstreamHTTP2 says whether the cluster speaks HTTP/2 upstream: HTTP2 and
// GRPC ports do, and so does any port whose policy has h2UpgradePolicy
// UPGRADE (as in Istio, even a TCP port: the user says it is HTTP).
// DO_NOT_UPGRADE, like the mesh default, does not downgrade an HTTP/2 port.
func upstreamHTTP2(p registry.Protocol, pool *networking.ConnectionPoolSettings, outbound bool) bool {
	upgrade := pool.GetHttp().GetH2UpgradePolicy() == networking.ConnectionPoolSettings_HTTPSettings_UPGRADE
	return p.IsHTTP2() || (outbound && upgrade)
}

// protocolOptions builds typed_extension_protocol_options
// ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] when the
// cluster needs it: explicit_http_config.http2_protocol_options for HTTP/2
// upstreams; common_http_protocol_options.idle_timeout (http.idleTimeout,
// else tcp.idleTimeout) and max_requests_per_connection
// (http.maxRequestsPerConnection when > 0), with
// explicit_http_config.http_protocol_options for HTTP/1.1 upstreams (Envoy
// requires an upstream protocol). None otherwise.
func protocolOptions(http2 bool, pool *networking.ConnectionPoolSettings) map[string]*anypb.Any {
	common := commonHTTPOptions(pool)
	if !http2 && common == nil {
		return nil
	}
	explicit := &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
		ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{
			HttpProtocolOptions: &core.Http1ProtocolOptions{},
		},
	}
	if http2 {
		explicit.ProtocolConfig = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
			Http2ProtocolOptions: &core.Http2ProtocolOptions{},
		}
	}
	opts := &httpv3.HttpProtocolOptions{
		CommonHttpProtocolOptions: common,
		UpstreamProtocolOptions:   &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: explicit},
	}
	return map[string]*anypb.Any{httpProtocolOptionsKey: toAny(opts)}
}

func commonHTTPOptions(pool *networking.ConnectionPoolSettings) *core.HttpProtocolOptions {
	idle := pool.GetHttp().GetIdleTimeout()
	if idle == nil {
		idle = pool.GetTcp().GetIdleTimeout()
	}
	perConn := pool.GetHttp().GetMaxRequestsPerConnection()
	if idle == nil && perConn <= 0 {
		return nil
	}
	out := &core.HttpProtocolOptions{IdleTimeout: idle}
	if perConn > 0 {
		out.MaxRequestsPerConnection = wrapperspb.UInt32(uint32(perConn))
	}
	return out
}
