package filter

// RouterName is the router filter: the end of every HCM's chain. The HCM
// itself does the router's work (internal/proxy/hcm); the entry only lets
// the compiler recognise it.
const RouterName = "envoy.filters.http.router"

func init() {
	Register(&Factory{
		Name:        RouterName,
		ConfigTypes: []string{"type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
		Terminal:    true,
	})
}
