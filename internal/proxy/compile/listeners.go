package compile

import (
	"errors"
	"fmt"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"github.com/halyard-mesh/halyard/internal/proxy/accesslog"
	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/listener"
	"github.com/halyard-mesh/halyard/internal/proxy/stats"
	"github.com/halyard-mesh/halyard/internal/proxy/tracing"
)

// Listener filter and filter names.
const (
	ExplicitProxyFilter = "halyard.listener.explicit_proxy"
	hcmFilter           = "envoy.filters.network.http_connection_manager"
	tcpProxyFilter      = "envoy.filters.network.tcp_proxy"

	hcmType      = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	tcpProxyType = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
)

// listenerFiltersIgnored are listener filters whose job the proxy does
// without them (or that do not apply to it).
var listenerFiltersIgnored = map[string]bool{
	"envoy.filters.listener.original_dst":   true,
	"envoy.filters.listener.tls_inspector":  true,
	"envoy.filters.listener.http_inspector": true,
}

// Listeners compiles an LDS resource set. It returns the listeners and the
// sorted names of the RDS route configurations they reference. Access logs
// and tracing are checked but write nowhere; use ListenersWith for them.
func Listeners(res []*listenerv3.Listener) ([]listener.Config, []string, error) {
	return ListenersWith(res, Telemetry{})
}

// Telemetry is where compiled listeners send access logs and spans.
type Telemetry struct {
	AccessLogs *accesslog.Sinks
	Tracing    *tracing.Exporters
	// Metrics interns the listeners' metric overrides.
	Metrics *stats.Registry
	// Secrets is the workload identity that DownstreamTlsContexts' SDS
	// secrets resolve to; nil: none.
	Secrets Secrets
}

// ListenersWith is Listeners whose access logs and spans go to t.
func ListenersWith(res []*listenerv3.Listener, t Telemetry) ([]listener.Config, []string, error) {
	return ListenersFrom(SliceSeq(res), t)
}

// ListenersFrom is ListenersWith over a sequence of resources.
func ListenersFrom(res Seq[*listenerv3.Listener], t Telemetry) ([]listener.Config, []string, error) {
	var out []listener.Config
	var routes []string
	err := res(func(l *listenerv3.Listener) error {
		c, err := compileListener(l, t)
		if err != nil {
			return &Error{Kind: "listener", Name: l.GetName(), Err: err}
		}
		if c.HTTP != nil && c.HTTP.Routes == nil {
			routes = append(routes, c.HTTP.RouteConfigName)
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(routes)
	return out, slices.Compact(routes), nil
}

func compileListener(l *listenerv3.Listener, t Telemetry) (listener.Config, error) {
	c := listener.Config{
		Name:       l.GetName(),
		BindToPort: boolValue(l.GetBindToPort(), true),
		Inbound:    l.GetTrafficDirection() == corev3.TrafficDirection_INBOUND,
		// A bound listener with use_original_dst hands captured connections
		// to the listener of their original destination (transparent mode).
		UseOriginalDst: l.GetUseOriginalDst().GetValue(),
	}
	if c.Name == "" {
		return c, errors.New("listener has no name")
	}
	addr, err := socketAddress(l.GetAddress())
	if err != nil {
		return c, fmt.Errorf("address: %w", err)
	}
	c.Address = addr
	ov, err := metricOverrides(l.GetMetadata(), t.Metrics)
	if err != nil {
		return c, err
	}
	if ov != nil {
		c.Metrics = ov
	}
	for _, lf := range l.GetListenerFilters() {
		switch name := lf.GetName(); {
		case name == ExplicitProxyFilter:
			c.ExplicitProxy = true
		case listenerFiltersIgnored[name]:
		default:
			return c, fmt.Errorf("unsupported listener filter %q", name)
		}
	}
	chains := l.GetFilterChains()
	fc, dtls, ok, err := transportChains(chains, t.Secrets) // tls.go
	switch {
	case err != nil:
		return c, err
	case ok:
		c.DownstreamTLS = dtls
		chains = []*listenerv3.FilterChain{fc}
	case selectsChains(l):
		return c, compileTCPChains(&c, l, t) // filterchains.go
	}
	if len(chains) == 0 && l.GetDefaultFilterChain() != nil {
		chains = []*listenerv3.FilterChain{l.GetDefaultFilterChain()}
	}
	if len(chains) == 0 {
		return c, errors.New("listener has no filter chain")
	}
	fc = chains[0]
	if fc.GetTransportSocket() != nil && c.DownstreamTLS == nil {
		return c, errors.New("transport sockets (TLS) are not supported")
	}
	filters := fc.GetFilters()
	if len(filters) == 0 {
		return c, errors.New("filter chain has no filters")
	}
	f := filters[len(filters)-1]
	tc := f.GetTypedConfig()
	switch {
	case len(filters) > 1 && (f.GetName() == hcmFilter || tc.GetTypeUrl() == hcmType):
		return c, fmt.Errorf("unsupported network filter %q before the http_connection_manager", filters[0].GetName())
	case f.GetName() == hcmFilter || tc.GetTypeUrl() == hcmType:
		h := &hcmv3.HttpConnectionManager{}
		if tc == nil || tc.GetTypeUrl() != hcmType {
			return c, fmt.Errorf("filter %q: typed_config must be %s", f.GetName(), hcmType)
		}
		if err := tc.UnmarshalTo(h); err != nil {
			return c, fmt.Errorf("filter %q: %w", f.GetName(), err)
		}
		hc, err := compileHCM(h, t)
		if err != nil {
			return c, fmt.Errorf("http_connection_manager: %w", err)
		}
		hc.Inbound, hc.Metrics = c.Inbound, c.Metrics
		c.HTTP = hc
	case f.GetName() == tcpProxyFilter || tc.GetTypeUrl() == tcpProxyType:
		tp := &tcpproxyv3.TcpProxy{}
		if tc == nil || tc.GetTypeUrl() != tcpProxyType {
			return c, fmt.Errorf("filter %q: typed_config must be %s", f.GetName(), tcpProxyType)
		}
		if err := tc.UnmarshalTo(tp); err != nil {
			return c, fmt.Errorf("filter %q: %w", f.GetName(), err)
		}
		if c.TCP, err = compileTCPProxy(tp, t); err != nil { // filterchains.go
			return c, err
		}
		if c.TCP.Filters, err = networkFilters(filters[:len(filters)-1]); err != nil { // netfilters.go
			return c, err
		}
	default:
		return c, fmt.Errorf("unsupported network filter %q", f.GetName())
	}
	return c, nil
}

func compileHCM(h *hcmv3.HttpConnectionManager, t Telemetry) (*hcm.Config, error) {
	c := &hcm.Config{GenerateRequestID: boolValue(h.GetGenerateRequestId(), true), UseRemoteAddress: h.GetUseRemoteAddress().GetValue(),
		XffNumTrustedHops: h.GetXffNumTrustedHops()}
	switch rs := h.GetRouteSpecifier().(type) {
	case *hcmv3.HttpConnectionManager_Rds:
		if rs.Rds.GetRouteConfigName() == "" {
			return nil, errors.New("rds without route_config_name")
		}
		c.RouteConfigName = rs.Rds.GetRouteConfigName()
	case *hcmv3.HttpConnectionManager_RouteConfig:
		t, err := compileRouteConfig(rs.RouteConfig)
		if err != nil {
			return nil, fmt.Errorf("route_config %q: %w", rs.RouteConfig.GetName(), err)
		}
		c.Routes = t
	case nil:
		return nil, errors.New("no route configuration (rds or route_config)")
	default:
		return nil, fmt.Errorf("unsupported route specifier %T", rs)
	}
	fs, err := httpFilters(h.GetHttpFilters())
	if err != nil {
		return nil, err
	}
	c.Filters = fs
	if c.AccessLogs, err = accessLogs(h.GetAccessLog(), t.AccessLogs); err != nil {
		return nil, err
	}
	if c.Tracer, err = compileTracing(h.GetTracing(), t.Tracing); err != nil {
		return nil, err
	}
	return c, nil
}
