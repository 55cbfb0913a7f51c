package compile

import (
	"fmt"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/halyard-mesh/halyard/internal/proxy/filter/rbac"
	"github.com/halyard-mesh/halyard/internal/proxy/listener"
)

// networkFilters compiles the network filters before a tcp_proxy: only
// envoy.filters.network.rbac is supported.
func networkFilters(fs []*listenerv3.Filter) ([]listener.ConnFilter, error) {
	var out []listener.ConnFilter
	for _, f := range fs {
		tc := f.GetTypedConfig()
		if f.GetName() != rbac.NetworkName && tc.GetTypeUrl() != rbac.NetworkConfigType {
			return nil, fmt.Errorf("unsupported network filter %q before tcp_proxy", f.GetName())
		}
		if tc.GetTypeUrl() != rbac.NetworkConfigType {
			return nil, fmt.Errorf("filter %q: typed_config must be %s", f.GetName(), rbac.NetworkConfigType)
		}
		nf, err := rbac.NewNetwork(tc)
		if err != nil {
			return nil, fmt.Errorf("filter %q: %w", f.GetName(), err)
		}
		out = append(out, nf)
	}
	return out, nil
}
