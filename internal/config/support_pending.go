package config

// Support tables of the kinds whose features are being built. Each starts
// empty: every field set is warned about as not yet supported until the
// feature that acts on it adds its rule here.

// sidecarRules: networking.istio.io Sidecar.
var sidecarRules = []fieldRule{
	ok("spec.workloadSelector", "selects the pods of its namespace whose labels match; a Sidecar without one applies to its namespace, or to every namespace from the root namespace"),
	ok("spec.outboundTrafficPolicy", "the pod's virtualOutbound sends destinations no listener takes (transparent mode: connections; explicit mode: requests and CONNECTs to ports no service uses) to PassthroughCluster (ALLOW_ANY) or BlackHoleCluster (REGISTRY_ONLY)"),
	ok("spec.inboundConnectionPool", "the connection pool (circuit breakers, timeouts) of the pods' inbound clusters, over their services' DestinationRules'"),
	ok("spec.egress[].hosts", "`namespace/dnsName` (namespace `*`, `.`, `~` or a name; dnsName `*`, a wildcard or a host): the pods it applies to are configured only for the services and VirtualServices these hosts name (the hosts of every egress listener together), plus the services those VirtualServices route or mirror to"),
}

// telemetryRules: telemetry.istio.io Telemetry.
var telemetryRules = []fieldRule{
	ok("spec.selector", "a Telemetry in a workload's namespace with matching labels overrides the namespace's, which overrides the root namespace's (istio-system)"),
	ok("spec.accessLogging[].providers", "`envoy` (the mesh's accessLogFile, or stdout, in accessLogEncoding/accessLogFormat) and `extensionProviders` of kind `envoyFileAccessLog`; other providers are skipped"),
	ok("spec.accessLogging[].disabled", "turns access logs off at that level"),
	ok("spec.accessLogging[].match.mode", "CLIENT: outbound listeners, SERVER: inbound listeners, CLIENT_AND_SERVER: both"),
	ok("spec.tracing[].providers", "the first names an `extensionProviders` entry of kind `opentelemetry`; none: the mesh's `defaultProviders.tracing`"),
	ok("spec.tracing[].randomSamplingPercentage", "new traces only: a sampling decision in the incoming trace context is followed"),
	ok("spec.tracing[].disableSpanReporting"),
	ok("spec.tracing[].customTags", "literal and header tags; an environment tag reports its defaultValue"),
	ok("spec.tracing[].match.mode", "CLIENT: outbound listeners, SERVER: inbound listeners, CLIENT_AND_SERVER: both"),
	ok("spec.metrics[].providers", "the sidecar's Prometheus endpoint is the only metrics provider"),
	ok("spec.metrics[].overrides[].match.metric", "Istio's metrics; GRPC_REQUEST_MESSAGES and GRPC_RESPONSE_MESSAGES are not reported"),
	ok("spec.metrics[].overrides[].match.mode", "CLIENT: reporter source (outbound), SERVER: reporter destination (inbound)"),
	ok("spec.metrics[].overrides[].disabled", "the metric is not reported"),
	ok("spec.metrics[].overrides[].tagOverrides", "REMOVE drops the label; UPSERT with a quoted string literal (`\"'v'\"`) sets a constant label; other UPSERT expressions are skipped (no CEL evaluator)"),
}

// peerAuthenticationRules: security.istio.io PeerAuthentication.
var peerAuthenticationRules = []fieldRule{
	ok("spec.selector", "a policy in a workload's namespace with matching labels overrides the namespace's (no selector), which overrides the mesh's (no selector, in the root namespace istio-system)"),
	ok("spec.mtls.mode", "STRICT: mutual TLS only; PERMISSIVE (the default): mutual TLS and plaintext on the same port; DISABLE: plaintext only; UNSET inherits"),
	ok("spec.portLevelMtls", "container port numbers, on a policy with a selector only (as in Istio); overrides the policy's mode on that port"),
}

// authorizationPolicyRules: security.istio.io AuthorizationPolicy,
// enforced by the sidecar's rbac filters (docs/security.md).
var authorizationPolicyRules = []fieldRule{
	ok("spec.selector", "a policy in the root namespace (istio-system) without selector applies to every workload; in a namespace without selector to its workloads; with a selector to the workloads whose labels match"),
	ok("spec.action", "ALLOW (default), DENY, AUDIT (logged, never refuses); CUSTOM is warned about and the policy ignored (no external authorization)"),
	ok("spec.rules[].from[].source", "principals, notPrincipals, requestPrincipals, notRequestPrincipals, namespaces, notNamespaces, ipBlocks, notIpBlocks, remoteIpBlocks, notRemoteIpBlocks"),
	ok("spec.rules[].to[].operation", "hosts, notHosts, ports, notPorts, methods, notMethods, paths, notPaths (exact, prefix `x*`, suffix `*x`, `*`; paths without the query); path templates ({*}, {**}) are warned about and matched literally"),
	ok("spec.rules[].when", "request.headers[name], source.ip, remote.ip, source.namespace, source.principal, request.auth.principal, request.auth.audiences, request.auth.presenter, request.auth.claims[name]..., destination.ip, destination.port, connection.sni"),
}

// requestAuthenticationRules: security.istio.io RequestAuthentication.
var requestAuthenticationRules = []fieldRule{
	ok("spec.selector", "the policies of the mesh (root namespace istio-system, no selector), of the pod's namespace (no selector) and of its workload (matching labels) all apply: their jwtRules are merged"),
	ok("spec.targetRef", "selects gateways and waypoints, which Halyard does not run: such a policy applies to no sidecar"),
	ok("spec.targetRefs", "as targetRef"),
	ok("spec.jwtRules[].issuer", "required; a token's iss must equal it"),
	ok("spec.jwtRules[].audiences", "a token's aud must hold one of them (any when empty)"),
	ok("spec.jwtRules[].jwksUri", "fetched by the control plane (http or https), refreshed every --jwks-refresh-interval (20m) and sent inline; a URI that cannot be fetched gets a key nobody has, so its tokens fail"),
	ok("spec.jwtRules[].jwks", "inline JWKS, used as is (RSA, EC P-256/P-384/P-521, Ed25519 keys)"),
	ok("spec.jwtRules[].fromHeaders", "header name and value prefix; with no location the token is read from `Authorization: Bearer` and `?access_token=`"),
	ok("spec.jwtRules[].fromParams"), ok("spec.jwtRules[].fromCookies"),
	ok("spec.jwtRules[].forwardOriginalToken", "false (the default) removes the token's header before the application"),
	ok("spec.jwtRules[].outputPayloadToHeader", "the payload, base64url"),
	ok("spec.jwtRules[].outputClaimToHeaders", "string, number and boolean claims; `a.b` reaches into nested claims"),
	ok("spec.jwtRules[].timeout", "of the jwksUri fetch (default 5s)"),
}

// configMapRules: a ConfigMap's data is opaque except for the mesh
// configuration, which has its own table.
var configMapRules = []fieldRule{
	ok("data", "only the ConfigMap `istio` in `istio-system` is read; its `mesh` key is Istio's MeshConfig, applied over Istio's defaults and checked field by field like a spec (other ConfigMaps are ignored)"),
	ok("binaryData"), ok("immutable"),
}

// meshConfigRules: the `mesh` key of ConfigMap istio-system/istio, with
// paths from the document's root (data.mesh.<field>).
var meshConfigRules = []fieldRule{
	ok("data.mesh.outboundTrafficPolicy", "the default of every pod a Sidecar does not override: where connections (transparent mode) and requests or CONNECTs to ports no service uses (explicit mode) go: PassthroughCluster (ALLOW_ANY) or BlackHoleCluster (REGISTRY_ONLY)"),
	ok("data.mesh.accessLogFile", "turns access logs on (every HCM's access_log writes there; /dev/stdout goes to the sidecar's log) unless a Telemetry says otherwise"),
	ok("data.mesh.accessLogEncoding", "TEXT (default: Istio's format) or JSON"),
	ok("data.mesh.accessLogFormat", "an Envoy format string (TEXT) or a JSON object of them (JSON); see docs/observability.md for the command operators"),
	ok("data.mesh.extensionProviders[].name"),
	ok("data.mesh.extensionProviders[].envoyFileAccessLog", "path and logFormat (text or labels)"),
	ok("data.mesh.rootNamespace", "where mesh-wide Telemetry and DestinationRules live"),
	ok("data.mesh.defaultServiceExportTo", "the exportTo of Services and ServiceEntries that set none"),
	ok("data.mesh.defaultVirtualServiceExportTo", "the exportTo of VirtualServices that set none"),
	ok("data.mesh.defaultDestinationRuleExportTo", "the exportTo of DestinationRules that set none"),
	ok("data.mesh.extensionProviders[].opentelemetry.service", "the collector's service host (`namespace/host` accepted); spans go to its cluster outbound|<port>||<host>"),
	ok("data.mesh.extensionProviders[].opentelemetry.port"),
	ok("data.mesh.extensionProviders[].opentelemetry.http.path", "OTLP over HTTP (protobuf) instead of gRPC; default /v1/traces"),
	ok("data.mesh.extensionProviders[].opentelemetry.http.timeout"),
	ok("data.mesh.defaultProviders.tracing", "the tracing provider when no Telemetry names one"),
	ok("data.mesh.defaultProviders.accessLogging", "the access log providers when no Telemetry names one (with accessLogFile, `envoy` is added)"),
	ok("data.mesh.enableTracing", "false turns tracing off everywhere"),
	ok("data.mesh.defaultConfig.tracing.sampling", "percent of new traces sampled when no Telemetry sets randomSamplingPercentage (default 1)"),
}
