package xds

import (
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// authzHTTPFilters are the authorization filters of an inbound HTTP port
// (AuthorizationPolicy): none yet.
func (g *generator) authzHTTPFilters(port uint32) []*hcm.HttpFilter { return nil }

// authzNetworkFilters are the authorization filters of an inbound TCP
// port: none yet.
func (g *generator) authzNetworkFilters(port uint32) []*listener.Filter { return nil }
