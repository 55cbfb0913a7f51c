package xds

import hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

// authnHTTPFilters are the request-authentication filters of an inbound
// HTTP port (RequestAuthentication): none yet.
func (g *generator) authnHTTPFilters(port uint32) []*hcm.HttpFilter { return nil }
