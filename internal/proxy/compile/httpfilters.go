package compile

import (
	"errors"
	"fmt"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/halyard-mesh/halyard/internal/proxy/filter"
	_ "github.com/halyard-mesh/halyard/internal/proxy/filter/builtin" // the standard HTTP filters
	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

// httpFilters compiles an HCM's http_filters through the filter registry:
// each entry is looked up by its typed_config's type URL, else its name.
// The router must be the last; an unknown filter is an error unless it is
// optional (or disabled), as in Envoy. A known disabled filter is left out
// (a route cannot enable it again).
func httpFilters(in []*hcmv3.HttpFilter) ([]hcm.Filter, error) {
	var out []hcm.Filter
	hasRouter := false
	for i, f := range in {
		if f.GetConfigDiscovery() != nil {
			if f.GetIsOptional() {
				continue
			}
			return nil, fmt.Errorf("http filter %q: config_discovery is not supported", f.GetName())
		}
		tc := f.GetTypedConfig()
		e := filter.Lookup(f.GetName(), tc.GetTypeUrl())
		switch {
		case e == nil && (f.GetIsOptional() || f.GetDisabled()):
			// Envoy skips optional filters it does not know.
			continue
		case e == nil:
			return nil, fmt.Errorf("unsupported http filter %q", f.GetName())
		case e.Terminal && i != len(in)-1:
			return nil, errors.New("the router filter must be the last http filter")
		case e.Terminal:
			hasRouter = true
			continue
		case f.GetDisabled():
			continue
		}
		hf, err := e.New(tc, e.Slot())
		if err != nil {
			return nil, fmt.Errorf("http filter %q: %w", f.GetName(), err)
		}
		out = append(out, hf)
	}
	if !hasRouter {
		return nil, errors.New("http_filters has no envoy.filters.http.router")
	}
	return out, nil
}
