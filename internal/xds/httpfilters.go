package xds

import (
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
)

// outboundHTTPFilters is the HTTP filter chain of every outbound HTTP
// connection manager, in Istio's order: the fault filter and the CORS
// filter (both with empty configs: they act only on routes that configure
// them in typed_per_filter_config), then the router.
func outboundHTTPFilters() []*hcm.HttpFilter {
	return []*hcm.HttpFilter{
		{Name: FaultFilter, ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: toAny(&faultv3.HTTPFault{})}},
		{Name: CORSFilter, ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: toAny(&corsv3.Cors{})}},
		routerFilter(),
	}
}

func routerFilter() *hcm.HttpFilter {
	return &hcm.HttpFilter{
		Name:       wellknown.Router,
		ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: toAny(&router.Router{})},
	}
}
