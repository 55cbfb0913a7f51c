// Package builtin links the proxy's standard HTTP filters into the filter
// registry: import it for its side effects.
package builtin

import (
	// Each package registers its filter from init.
	_ "github.com/halyard-mesh/halyard/internal/proxy/filter/cors"
	_ "github.com/halyard-mesh/halyard/internal/proxy/filter/fault"
	_ "github.com/halyard-mesh/halyard/internal/proxy/filter/istioauthn"
	_ "github.com/halyard-mesh/halyard/internal/proxy/filter/jwtauthn"
	_ "github.com/halyard-mesh/halyard/internal/proxy/filter/rbac"
)
