package config

import "strings"

// This file is the data behind "never a silent ignore": for each applied
// kind, the fields Halyard acts on today. A rule covers its whole subtree.
// Any other field set in a document gets one warning at the root of the
// unsupported subtree. To support a new field, add a rule here (and
// regenerate docs/config-reference.md with `go test ./internal/config
// -update`).

// fieldStatus says what Halyard does with a field.
type fieldStatus int

const (
	// supported: Halyard acts on the field.
	supported fieldStatus = iota
	// ignoredLocally: the field has no meaning when running on one machine
	// (resources, scheduling, ...); it is warned about and ignored.
	ignoredLocally
)

// fieldRule is one entry of a support table. path is a pattern: list
// elements are written [] and map entries [*].
type fieldRule struct {
	path   string
	status fieldStatus
	note   string
}

// Messages of the support warnings.
const (
	msgNotSupported = "field not yet supported; ignored"
	msgNoEffect     = "field has no effect when running locally; ignored"
)

func ok(path string, note ...string) fieldRule {
	r := fieldRule{path: path, status: supported}
	if len(note) > 0 {
		r.note = note[0]
	}
	return r
}

func local(paths ...string) []fieldRule {
	rules := make([]fieldRule, len(paths))
	for i, p := range paths {
		rules[i] = fieldRule{path: p, status: ignoredLocally}
	}
	return rules
}

// commonRules apply to every applied kind.
var commonRules = concat(
	[]fieldRule{
		ok("apiVersion"), ok("kind"), ok("metadata.name"),
		ok("metadata.namespace", `defaults to "default" for namespaced kinds`),
		ok("metadata.labels"), ok("metadata.annotations"),
	},
	local("metadata.uid", "metadata.resourceVersion", "metadata.generation", "metadata.creationTimestamp",
		"metadata.deletionTimestamp", "metadata.deletionGracePeriodSeconds", "metadata.managedFields",
		"metadata.selfLink", "metadata.ownerReferences", "metadata.finalizers", "status"),
)

// kindRules are the support tables, one per applied kind, in the order of
// the reference documentation.
var kindRules = []struct {
	kind  string
	rules []fieldRule
}{
	{"Namespace", local("spec.finalizers")},
	{"ServiceAccount", local("secrets", "imagePullSecrets", "automountServiceAccountToken")},
	{"Service", serviceRules},
	{"Deployment", deploymentRules},
	{"VirtualService", virtualServiceRules},
	{"DestinationRule", destinationRuleRules},
	{"ServiceEntry", serviceEntryRules},
	{"WorkloadEntry", workloadEntryRules},
	{"Sidecar", sidecarRules},
	{"Telemetry", telemetryRules},
	{"PeerAuthentication", peerAuthenticationRules},
	{"RequestAuthentication", requestAuthenticationRules},
	{"AuthorizationPolicy", authorizationPolicyRules},
	{"ConfigMap", configMapRules},
}

var serviceRules = concat(
	[]fieldRule{
		ok("spec.ports[].name", "required when there is more than one port"),
		ok("spec.ports[].port"), ok("spec.ports[].targetPort", "a number or the name of a container port"),
		ok("spec.ports[].protocol"), ok("spec.ports[].appProtocol", "used for protocol selection, as in Istio"),
		ok("spec.selector"),
		ok("spec.type", "ClusterIP; NodePort and LoadBalancer are warned and treated as ClusterIP; ExternalName is a service outside the mesh reached at its externalName, resolved by DNS on the Service's ports, as Istio does"),
		ok("spec.externalName", "with type ExternalName; a name of a mesh service is resolved by DNS too (Istio's alias of the target service is not supported)"),
		ok("spec.clusterIP", `"None" makes a headless Service`),
		ok("spec.sessionAffinity", "None; ClientIP is warned as not yet supported"),
	},
	local("spec.clusterIPs", "spec.ipFamilies", "spec.ipFamilyPolicy", "spec.internalTrafficPolicy",
		"spec.externalTrafficPolicy", "spec.ports[].nodePort", "spec.healthCheckNodePort",
		"spec.allocateLoadBalancerNodePorts", "spec.loadBalancerClass", "spec.loadBalancerIP",
		"spec.loadBalancerSourceRanges"),
)

const (
	podSpec   = "spec.template.spec."
	container = podSpec + "containers[]."
)

var deploymentRules = concat(
	[]fieldRule{
		ok("spec.replicas", "each replica is one local pod"),
		ok("spec.selector", "must match the template's labels"),
		ok("spec.template.metadata.labels"), ok("spec.template.metadata.annotations"),
		ok("spec.template.metadata.name"),
		ok(podSpec + "serviceAccountName"),
		ok(container + "name"), ok(container+"image", "recorded; Halyard runs command and args, not the image"),
		ok(container+"command", "required: run as a local process"),
		ok(container+"args", "$(VAR) references to env are expanded as Kubernetes does"),
		ok(container + "env[].name"), ok(container + "env[].value"),
		ok(container + "ports[].name"), ok(container + "ports[].containerPort"), ok(container + "ports[].protocol"),
		ok(container + "readinessProbe.httpGet.path"), ok(container + "readinessProbe.httpGet.port"),
		ok(container + "readinessProbe.tcpSocket.port"),
	},
	local("spec.strategy", "spec.minReadySeconds", "spec.revisionHistoryLimit", "spec.progressDeadlineSeconds",
		"spec.template.metadata.creationTimestamp",
		podSpec+"volumes", podSpec+"nodeSelector", podSpec+"nodeName", podSpec+"affinity", podSpec+"tolerations",
		podSpec+"securityContext", podSpec+"imagePullSecrets", podSpec+"priorityClassName", podSpec+"priority",
		podSpec+"schedulerName", podSpec+"dnsPolicy", podSpec+"dnsConfig", podSpec+"restartPolicy",
		podSpec+"terminationGracePeriodSeconds", podSpec+"topologySpreadConstraints",
		podSpec+"automountServiceAccountToken", podSpec+"enableServiceLinks", podSpec+"preemptionPolicy",
		podSpec+"runtimeClassName", podSpec+"overhead", podSpec+"resources",
		container+"resources", container+"resizePolicy", container+"imagePullPolicy", container+"securityContext",
		container+"volumeMounts", container+"volumeDevices", container+"terminationMessagePath",
		container+"terminationMessagePolicy"),
)

const (
	httpRule  = "spec.http[]."
	httpMatch = httpRule + "match[]."
	httpRoute = httpRule + "route[]."
)

var virtualServiceRules = concat(
	[]fieldRule{
		ok("spec.hosts", "short names are resolved in the VirtualService's namespace"),
		ok("spec.gateways", `applies to sidecars when empty or when it lists "mesh"; a VirtualService bound only to gateways is warned`),
		ok("spec.exportTo", `"*", "." and namespace names, as in Istio: proxies of other namespaces do not route by it`),
		ok(httpRule + "name"),
		ok(httpMatch + "name"), ok(httpMatch+"uri", "exact, prefix or regex (RE2)"),
		ok(httpMatch+"headers", "{} matches the header's presence"), ok(httpMatch + "withoutHeaders"),
		ok(httpMatch + "method"), ok(httpMatch + "authority"), ok(httpMatch+"queryParams", "{} matches the parameter's presence"),
		ok(httpMatch + "ignoreUriCase"), ok(httpMatch+"scheme", "matched against the request's scheme"),
		ok(httpMatch+"port", "the match applies only on that port"),
		ok(httpMatch+"sourceLabels", "the match applies only to proxies of pods with those labels"),
		ok(httpMatch+"sourceNamespace", "the match applies only to proxies in that namespace"),
		ok(httpMatch+"gateways", `the match applies to sidecars only when empty or when it lists "mesh"`),
		ok(httpRoute + "destination.host"), ok(httpRoute + "destination.subset"),
		ok(httpRoute + "destination.port.number"),
		ok(httpRoute+"weight", "relative weights, as in Istio: they need not add up to 100"),
		ok(httpRoute+"headers", "on the route for a single destination, on its weighted cluster otherwise"),
	},
	httpFeatureRules, l4Rules,
)

// httpFeatureRules are what an http rule does besides matching and
// picking destinations (docs/ARCHITECTURE.md, "Traffic policy").
var httpFeatureRules = []fieldRule{
	ok(httpRule+"timeout", "no timeout when not set, as in Istio"),
	ok(httpRule+"retries", "Istio's default policy when not set (2 retries); attempts: 0 turns retries off"),
	ok(httpRule+"fault", "fixedDelay and httpStatus/grpcStatus aborts; no percentage means none"),
	ok(httpRule + "mirror"), ok(httpRule + "mirrorPercentage"),
	ok(httpRule+"mirrorPercent", "deprecated: use mirrorPercentage"), ok(httpRule + "mirrors"),
	ok(httpRule + "redirect.uri"), ok(httpRule + "redirect.authority"), ok(httpRule + "redirect.port"),
	ok(httpRule+"redirect.derivePort", "FROM_REQUEST_PORT is the port being routed"),
	ok(httpRule + "redirect.scheme"), ok(httpRule+"redirect.redirectCode", "301 (default), 302, 303, 307 or 308"),
	ok(httpRule+"rewrite", "uri replaces the matched prefix (the whole path of an exact or regex match)"),
	ok(httpRule + "directResponse"),
	ok(httpRule+"headers", "set overwrites, add appends; :authority or host in request set/add rewrites the authority"),
	ok(httpRule + "corsPolicy"),
}

// l4Rules are the tcp and tls rules: connections to a TCP port, or by SNI
// to a TLS port, go to the first rule whose match applies.
var l4Rules = []fieldRule{
	ok("spec.tcp[].match[].port"), ok("spec.tcp[].match[].sourceLabels"), ok("spec.tcp[].match[].sourceNamespace"),
	ok("spec.tcp[].match[].gateways"), ok("spec.tcp[].route"),
	ok("spec.tls[].match[].sniHosts"), ok("spec.tls[].match[].port"), ok("spec.tls[].match[].sourceLabels"),
	ok("spec.tls[].match[].sourceNamespace"), ok("spec.tls[].match[].gateways"), ok("spec.tls[].route"),
}

var destinationRuleRules = concat(
	[]fieldRule{
		ok("spec.host"),
		ok("spec.subsets[].name"), ok("spec.subsets[].labels"),
		ok("spec.trafficPolicy.portLevelSettings[].port.number"),
		ok("spec.subsets[].trafficPolicy.portLevelSettings[].port.number"),
		ok("spec.exportTo", `"." or "*" and namespace names, as in Istio`),
		ok("spec.workloadSelector", "the rule applies only to proxies of pods with those labels"),
	},
	policyRules("spec.trafficPolicy.", ""),
	policyRules("spec.trafficPolicy.portLevelSettings[].", "replaces the policy on that port"),
	policyRules("spec.subsets[].trafficPolicy.", "overrides the top-level policy"),
	policyRules("spec.subsets[].trafficPolicy.portLevelSettings[].", "replaces the subset's policy on that port"),
)

// policyRules are the supported parts of a traffic policy written at
// prefix ("spec.trafficPolicy.", ...); note says how it combines.
func policyRules(prefix, note string) []fieldRule {
	lb, ch := prefix+"loadBalancer.", prefix+"loadBalancer.consistentHash."
	tcp, http, od := prefix+"connectionPool.tcp.", prefix+"connectionPool.http.", prefix+"outlierDetection."
	simple := "ROUND_ROBIN (default), LEAST_REQUEST (LEAST_CONN), RANDOM, PASSTHROUGH (original destination)"
	pool := "circuit breaker; unlimited when not set, as in Istio"
	if strings.HasPrefix(prefix, "spec.trafficPolicy.") {
		pool = "circuit breaker, on the clients' clusters and the servers' inbound clusters; unlimited when not set, as in Istio"
	}
	if note != "" {
		simple = note
	}
	return []fieldRule{
		ok(lb+"simple", simple),
		ok(ch+"httpHeaderName", "RING_HASH (or MAGLEV) cluster, hash policy on every route to it"),
		ok(ch + "httpCookie.name"), ok(ch + "httpCookie.path"),
		ok(ch+"httpCookie.ttl", "with a ttl, the proxy sets the cookie when the request has none"),
		ok(ch + "useSourceIp"), ok(ch + "httpQueryParameterName"),
		ok(ch + "ringHash"), ok(ch + "maglev"), ok(ch+"minimumRingSize", "deprecated: use ringHash"),
		ok(tcp+"maxConnections", pool),
		ok(tcp+"connectTimeout", "10s when not set"), ok(tcp + "tcpKeepalive"),
		ok(tcp+"idleTimeout", "HTTP connection pool idle timeout when http.idleTimeout is not set; tcp_proxy idle timeout"),
		ok(http+"http1MaxPendingRequests", "circuit breaker; unlimited when not set"),
		ok(http+"http2MaxRequests", "circuit breaker; unlimited when not set"),
		ok(http + "maxRequestsPerConnection"), ok(http+"maxRetries", "circuit breaker; unlimited when not set"),
		ok(http + "idleTimeout"), ok(http+"h2UpgradePolicy", "UPGRADE makes the upstream HTTP/2"),
		ok(od+"consecutive5xxErrors", "Envoy's default (5) when not set; 0 turns it off"),
		ok(od+"consecutiveGatewayErrors", "off when not set"),
		ok(od+"consecutiveErrors", "deprecated, as in Istio: consecutive gateway errors (502, 503, 504), and consecutive 5xx off unless consecutive5xxErrors is set"),
		ok(od + "interval"), ok(od + "baseEjectionTime"), ok(od + "maxEjectionPercent"),
		ok(od+"minHealthPercent", "panic threshold; 0 (panic mode off) when not set, as in Istio"),
		ok(od + "splitExternalLocalOriginErrors"), ok(od + "consecutiveLocalOriginFailures"),
		ok(prefix+"tls.mode", "ISTIO_MUTUAL (the default with sidecars: auto mutual TLS), DISABLE (plaintext), SIMPLE (TLS origination) or MUTUAL (TLS origination with a client certificate); SIMPLE and MUTUAL replace auto mutual TLS"),
		ok(prefix+"tls.caCertificates", "a file on the proxy's machine; the system's roots when not set"),
		ok(prefix+"tls.clientCertificate", "a file on the proxy's machine; required with MUTUAL"),
		ok(prefix+"tls.privateKey", "a file on the proxy's machine; required with MUTUAL"),
		ok(prefix+"tls.sni", "the service's host when not set"),
		ok(prefix+"tls.subjectAltNames", "the ServiceEntry's subjectAltNames when not set; with neither (and no sni), the server must be valid for the service's host"),
		ok(prefix + "tls.insecureSkipVerify"),
		{path: prefix + "tls.credentialName", status: ignoredLocally, note: "a Kubernetes secret: use the file fields"},
	}
}

var serviceEntryRules = []fieldRule{
	ok("spec.hosts"),
	ok("spec.ports[].number"), ok("spec.ports[].protocol"), ok("spec.ports[].name"), ok("spec.ports[].targetPort"),
	ok("spec.endpoints[].address", "an IP address with resolution STATIC; an IP address or a host name with DNS and DNS_ROUND_ROBIN"),
	ok("spec.endpoints[].ports"), ok("spec.endpoints[].labels"),
	ok("spec.endpoints[].weight", "the endpoint's load balancing weight (1 when not set)"),
	ok("spec.workloadSelector", "the pods of the entry's namespace with those labels are its endpoints (at each port's targetPort, else its number), whatever the resolution but NONE"),
	ok("spec.resolution", "STATIC (EDS), NONE (ORIGINAL_DST: the application's own destination), DNS (STRICT_DNS) and DNS_ROUND_ROBIN (LOGICAL_DNS); without endpoints, DNS resolves the hosts themselves"),
	ok("spec.location"),
	ok("spec.subjectAltNames", "the SANs a DestinationRule's SIMPLE or MUTUAL tls verifies when it lists none"),
	ok("spec.exportTo", `"*", ".", "~" and namespace names, as in Istio: proxies of other namespaces get no listener, route or cluster for the entry's hosts`),
}

var workloadEntryRules = []fieldRule{
	ok("spec.address", "an IP address: a workload outside the mesh's pods (no sidecar), an endpoint of the Services and ServiceEntries of its namespace whose selector matches its labels"),
	ok("spec.ports", "the port by the selecting service port's name, else that port's targetPort (a number) or number"),
	ok("spec.labels"), ok("spec.weight", "its load balancing weight (1 when not set)"),
}

func concat(lists ...[]fieldRule) []fieldRule {
	var out []fieldRule
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// supportFor returns the support table of an applied kind.
func supportFor(kind string) []fieldRule {
	for _, k := range kindRules {
		if k.kind == kind {
			return concat(commonRules, k.rules)
		}
	}
	return commonRules
}
