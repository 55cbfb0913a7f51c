package config

import (
	"fmt"

	meshconfig "istio.io/api/mesh/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"
	security "istio.io/api/security/v1beta1"
	telemetry "istio.io/api/telemetry/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Source is where a document or a field was written.
type Source struct {
	File string
	Line int // 1-based; 0 when unknown
}

func (s Source) String() string {
	if s.Line == 0 {
		return s.File
	}
	return fmt.Sprintf("%s:%d", s.File, s.Line)
}

// Meta is what every loaded document carries, whatever its kind.
type Meta struct {
	APIVersion  string
	Kind        string
	Name        string
	Namespace   string // defaulted to "default" for namespaced kinds
	Labels      map[string]string
	Annotations map[string]string
	Source      Source // the line where the document starts
}

// Ref is "Kind/namespace/name" (or "Kind/name" for cluster-scoped kinds).
func (m Meta) Ref() string {
	if m.Namespace == "" {
		return m.Kind + "/" + m.Name
	}
	return m.Kind + "/" + m.Namespace + "/" + m.Name
}

// Object is one typed document: its metadata and its spec.
type Object[T any] struct {
	Meta
	Spec T
}

type (
	Namespace       = Object[corev1.NamespaceSpec]
	ServiceAccount  = Object[struct{}]
	Service         = Object[*corev1.ServiceSpec]
	Deployment      = Object[*appsv1.DeploymentSpec]
	VirtualService  = Object[*networking.VirtualService]
	DestinationRule = Object[*networking.DestinationRule]
	ServiceEntry    = Object[*networking.ServiceEntry]
	WorkloadEntry   = Object[*networking.WorkloadEntry]
	Sidecar         = Object[*networking.Sidecar]
	Telemetry       = Object[*telemetry.Telemetry]

	PeerAuthentication    = Object[*security.PeerAuthentication]
	AuthorizationPolicy   = Object[*security.AuthorizationPolicy]
	RequestAuthentication = Object[*security.RequestAuthentication]
)

// Snapshot is one complete, validated configuration: everything loaded from a
// set of files at one moment. It is never modified after Load returns it.
type Snapshot struct {
	Namespaces       []Namespace
	ServiceAccounts  []ServiceAccount
	Services         []Service
	Deployments      []Deployment
	VirtualServices  []VirtualService
	DestinationRules []DestinationRule
	ServiceEntries   []ServiceEntry
	WorkloadEntries  []WorkloadEntry
	Sidecars         []Sidecar
	Telemetries      []Telemetry

	PeerAuthentications    []PeerAuthentication
	AuthorizationPolicies  []AuthorizationPolicy
	RequestAuthentications []RequestAuthentication

	// Mesh is the mesh-wide configuration: Istio's defaults, overlaid with
	// the `mesh` key of the ConfigMap "istio" in namespace "istio-system"
	// when one is loaded. Never nil.
	Mesh *meshconfig.MeshConfig

	// NotApplied lists valid documents of kinds Halyard parses and validates
	// but does not act on yet (Gateway, Sidecar, AuthorizationPolicy, ...).
	NotApplied []Meta
}

// Severity tells whether a diagnostic rejects the configuration.
type Severity int

const (
	Error   Severity = iota // the document is invalid: the whole load is rejected
	Warning                 // valid, but something in it is not acted on
)

// Diagnostic is one problem found while loading.
type Diagnostic struct {
	Severity Severity
	Source   Source // file and line of the offending field (or document)
	Ref      string // Kind/namespace/name, when known
	Field    string // field path such as spec.http[0].route[1].weight, when known
	Message  string
}

// String renders "file:line: Kind/ns/name: spec.field: message".
func (d Diagnostic) String() string {
	s := d.Source.String() + ": "
	if d.Severity == Warning {
		s += "warning: "
	}
	if d.Ref != "" {
		s += d.Ref + ": "
	}
	if d.Field != "" {
		s += d.Field + ": "
	}
	return s + d.Message
}
