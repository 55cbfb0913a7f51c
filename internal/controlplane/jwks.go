package controlplane

import (
	"time"

	"github.com/halyard-mesh/halyard/internal/config"
)

// jwksURIs are the jwksUris the config's RequestAuthentications need
// fetched (rules with inline jwks use those), with their fetch timeouts.
// The control plane's JWKS fetcher (internal/jwks) keeps them fresh; the
// xds translation sends them inline.
func jwksURIs(cfg *config.Snapshot) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, ra := range cfg.RequestAuthentications {
		for _, r := range ra.Spec.GetJwtRules() {
			if r.GetJwks() != "" || r.GetJwksUri() == "" {
				continue
			}
			var t time.Duration
			if r.GetTimeout() != nil {
				t = r.GetTimeout().AsDuration()
			}
			if old, ok := out[r.GetJwksUri()]; !ok || t > old {
				out[r.GetJwksUri()] = t
			}
		}
	}
	return out
}
