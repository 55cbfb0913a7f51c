package config

import (
	"reflect"
	"slices"

	"google.golang.org/protobuf/proto"
	extensions "istio.io/api/extensions/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"
	networkingbeta "istio.io/api/networking/v1beta1"
	security "istio.io/api/security/v1beta1"
	telemetry "istio.io/api/telemetry/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Istio API groups. Every kind in them is known; a kind or version that is
// not is an error, as kubectl would refuse it.
const (
	groupNetworking = "networking.istio.io"
	groupSecurity   = "security.istio.io"
	groupTelemetry  = "telemetry.istio.io"
	groupExtensions = "extensions.istio.io"
)

var istioGroups = []string{groupNetworking, groupSecurity, groupTelemetry, groupExtensions}

// kindInfo says how to read and use one kind.
type kindInfo struct {
	group    string // "" for the Kubernetes core group
	kind     string
	versions []string
	cluster  bool // cluster-scoped: no namespace

	// Exactly one of these is set: the Go type of a whole Kubernetes
	// document, or the constructor of an Istio spec.
	goType  reflect.Type
	newSpec func() proto.Message

	// validate checks the decoded object (*appsv1.Deployment, or the spec
	// message for Istio kinds); nil when there is nothing beyond the schema.
	validate func(c *docCtx, obj any)
	// apply adds the object to the snapshot; nil for kinds not applied yet.
	apply func(s *Snapshot, m Meta, obj any)
}

func (k *kindInfo) apiGroup() string {
	if k.group == "" {
		return "core"
	}
	return k.group
}

var (
	networkingVersions = []string{"v1", "v1beta1", "v1alpha3"}
	securityVersions   = []string{"v1", "v1beta1"}
	telemetryVersions  = []string{"v1", "v1alpha1"}
)

// kinds is the table of every kind Halyard reads.
var kinds = []*kindInfo{
	{kind: "Namespace", versions: []string{"v1"}, cluster: true, goType: reflect.TypeFor[corev1.Namespace](),
		apply: func(s *Snapshot, m Meta, obj any) {
			s.Namespaces = append(s.Namespaces, Namespace{Meta: m, Spec: obj.(*corev1.Namespace).Spec})
		}},
	{kind: "ServiceAccount", versions: []string{"v1"}, goType: reflect.TypeFor[corev1.ServiceAccount](),
		apply: func(s *Snapshot, m Meta, _ any) {
			s.ServiceAccounts = append(s.ServiceAccounts, ServiceAccount{Meta: m})
		}},
	{kind: "Service", versions: []string{"v1"}, goType: reflect.TypeFor[corev1.Service](),
		validate: func(c *docCtx, obj any) { validateService(c, &obj.(*corev1.Service).Spec) },
		apply: func(s *Snapshot, m Meta, obj any) {
			s.Services = append(s.Services, Service{Meta: m, Spec: &obj.(*corev1.Service).Spec})
		}},
	{group: "apps", kind: "Deployment", versions: []string{"v1"}, goType: reflect.TypeFor[appsv1.Deployment](),
		validate: func(c *docCtx, obj any) { validateDeployment(c, &obj.(*appsv1.Deployment).Spec) },
		apply: func(s *Snapshot, m Meta, obj any) {
			s.Deployments = append(s.Deployments, Deployment{Meta: m, Spec: &obj.(*appsv1.Deployment).Spec})
		}},
	{group: groupNetworking, kind: "VirtualService", versions: networkingVersions,
		newSpec:  func() proto.Message { return &networking.VirtualService{} },
		validate: func(c *docCtx, obj any) { validateVirtualService(c, obj.(*networking.VirtualService)) },
		apply: func(s *Snapshot, m Meta, obj any) {
			s.VirtualServices = append(s.VirtualServices, VirtualService{Meta: m, Spec: obj.(*networking.VirtualService)})
		}},
	{group: groupNetworking, kind: "DestinationRule", versions: networkingVersions,
		newSpec:  func() proto.Message { return &networking.DestinationRule{} },
		validate: func(c *docCtx, obj any) { validateDestinationRule(c, obj.(*networking.DestinationRule)) },
		apply: func(s *Snapshot, m Meta, obj any) {
			s.DestinationRules = append(s.DestinationRules, DestinationRule{Meta: m, Spec: obj.(*networking.DestinationRule)})
		}},
	{group: groupNetworking, kind: "ServiceEntry", versions: networkingVersions,
		newSpec:  func() proto.Message { return &networking.ServiceEntry{} },
		validate: func(c *docCtx, obj any) { validateServiceEntry(c, obj.(*networking.ServiceEntry)) },
		apply: func(s *Snapshot, m Meta, obj any) {
			s.ServiceEntries = append(s.ServiceEntries, ServiceEntry{Meta: m, Spec: obj.(*networking.ServiceEntry)})
		}},

	{group: groupNetworking, kind: "WorkloadEntry", versions: networkingVersions,
		newSpec:  func() proto.Message { return &networking.WorkloadEntry{} },
		validate: func(c *docCtx, obj any) { validateWorkloadEntry(c, obj.(*networking.WorkloadEntry)) },
		apply: func(s *Snapshot, m Meta, obj any) {
			s.WorkloadEntries = append(s.WorkloadEntries, WorkloadEntry{Meta: m, Spec: obj.(*networking.WorkloadEntry)})
		}},
	{group: groupNetworking, kind: "Sidecar", versions: networkingVersions,
		newSpec:  func() proto.Message { return &networking.Sidecar{} },
		validate: func(c *docCtx, obj any) { validateSidecar(c, obj.(*networking.Sidecar)) },
		apply: func(s *Snapshot, m Meta, obj any) {
			s.Sidecars = append(s.Sidecars, Sidecar{Meta: m, Spec: obj.(*networking.Sidecar)})
		}},
	{group: groupTelemetry, kind: "Telemetry", versions: telemetryVersions,
		newSpec: func() proto.Message { return &telemetry.Telemetry{} },
		apply: func(s *Snapshot, m Meta, obj any) {
			s.Telemetries = append(s.Telemetries, Telemetry{Meta: m, Spec: obj.(*telemetry.Telemetry)})
		}},
	{group: groupSecurity, kind: "PeerAuthentication", versions: securityVersions,
		newSpec: func() proto.Message { return &security.PeerAuthentication{} },
		apply: func(s *Snapshot, m Meta, obj any) {
			s.PeerAuthentications = append(s.PeerAuthentications, PeerAuthentication{Meta: m, Spec: obj.(*security.PeerAuthentication)})
		}},
	{group: groupSecurity, kind: "RequestAuthentication", versions: securityVersions,
		newSpec:  func() proto.Message { return &security.RequestAuthentication{} },
		validate: func(c *docCtx, obj any) { validateRequestAuthentication(c, obj.(*security.RequestAuthentication)) },
		apply: func(s *Snapshot, m Meta, obj any) {
			s.RequestAuthentications = append(s.RequestAuthentications, RequestAuthentication{Meta: m, Spec: obj.(*security.RequestAuthentication)})
		}},
	{group: groupSecurity, kind: "AuthorizationPolicy", versions: securityVersions,
		newSpec:  func() proto.Message { return &security.AuthorizationPolicy{} },
		validate: func(c *docCtx, obj any) { validateAuthorizationPolicy(c, obj.(*security.AuthorizationPolicy)) },
		apply: func(s *Snapshot, m Meta, obj any) {
			s.AuthorizationPolicies = append(s.AuthorizationPolicies, AuthorizationPolicy{Meta: m, Spec: obj.(*security.AuthorizationPolicy)})
		}},
	configMapKind,

	// Validated, listed in Snapshot.NotApplied, not acted on yet.
	{group: groupNetworking, kind: "Gateway", versions: networkingVersions,
		newSpec: func() proto.Message { return &networking.Gateway{} }},
	{group: groupNetworking, kind: "WorkloadGroup", versions: networkingVersions,
		newSpec: func() proto.Message { return &networking.WorkloadGroup{} }},
	{group: groupNetworking, kind: "EnvoyFilter", versions: []string{"v1alpha3"},
		newSpec: func() proto.Message { return &networking.EnvoyFilter{} }},
	{group: groupNetworking, kind: "ProxyConfig", versions: []string{"v1beta1"},
		newSpec: func() proto.Message { return &networkingbeta.ProxyConfig{} }},
	{group: groupExtensions, kind: "WasmPlugin", versions: []string{"v1alpha1"},
		newSpec: func() proto.Message { return &extensions.WasmPlugin{} }},
	{group: groupExtensions, kind: "TrafficExtension", versions: []string{"v1alpha1"},
		newSpec: func() proto.Message { return &extensions.TrafficExtension{} }},
}

// lookupKind finds a kind by API group and kind name.
func lookupKind(group, kind string) *kindInfo {
	for _, k := range kinds {
		if k.group == group && k.kind == kind {
			return k
		}
	}
	return nil
}

func isIstioGroup(group string) bool { return slices.Contains(istioGroups, group) }
