package config

// Support tables of the kinds whose features are being built. Each starts
// empty: every field set is warned about as not yet supported until the
// feature that acts on it adds its rule here.

// sidecarRules: networking.istio.io Sidecar.
var sidecarRules []fieldRule

// telemetryRules: telemetry.istio.io Telemetry.
var telemetryRules []fieldRule

// peerAuthenticationRules, authorizationPolicyRules and
// requestAuthenticationRules: security.istio.io. These kinds are listed in
// Snapshot.NotApplied until the security features act on them (an
// AuthorizationPolicy that is loaded but not enforced must not look
// applied); add their entries to kindRules and their apply functions then.
var (
	peerAuthenticationRules    []fieldRule
	authorizationPolicyRules   []fieldRule
	requestAuthenticationRules []fieldRule
)

// configMapRules: a ConfigMap's data is opaque except for the mesh
// configuration, which has its own table.
var configMapRules = []fieldRule{
	ok("data", "only the ConfigMap `istio` in `istio-system` is read; its `mesh` key is Istio's MeshConfig, applied over Istio's defaults and checked field by field like a spec (other ConfigMaps are ignored)"),
	ok("binaryData"), ok("immutable"),
}

// meshConfigRules: the `mesh` key of ConfigMap istio-system/istio, with
// paths from the document's root (data.mesh.<field>).
var meshConfigRules []fieldRule
