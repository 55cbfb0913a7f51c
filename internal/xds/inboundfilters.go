package xds

import (
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// inboundHTTPFilters is the HTTP filter chain of an inbound HTTP port, in
// Istio's order: request authentication (jwt_authn, then istio_authn,
// which derives the request.auth.* attributes; authn.go), authorization
// (rbac; authz.go), then the router.
func (g *generator) inboundHTTPFilters(port uint32) []*hcm.HttpFilter {
	f := g.authnHTTPFilters(port)
	f = append(f, g.authzHTTPFilters(port)...)
	return append(f, routerFilter())
}

// inboundNetworkFilters are the network filters before tcp_proxy on an
// inbound TCP port: authorization (network rbac; authz.go).
func (g *generator) inboundNetworkFilters(port uint32) []*listener.Filter {
	return g.authzNetworkFilters(port)
}
