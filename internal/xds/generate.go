// Package xds translates the registry model, VirtualServices and
// DestinationRules into the Envoy xDS v3 resources of one sidecar proxy,
// following the shapes in docs/ARCHITECTURE.md ("xDS conventions") and
// Istio's semantics: one file per resource type (listeners.go, routes.go,
// clusters.go, endpoints.go), rule selection in rules.go, names in names.go,
// and one file per traffic feature: route actions (routeaction.go,
// retries.go, faults.go, mirror.go, cors.go, headers.go, redirect.go),
// cluster policies (policy.go, lbpolicy.go, connpool.go, outlier.go) and
// TCP/TLS routing (tcproutes.go).
package xds

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	meshconfig "istio.io/api/mesh/v1alpha1"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// Input is everything the translation reads: one registry model and the
// routing configuration of one config snapshot.
type Input struct {
	Model            *registry.Model
	VirtualServices  []config.VirtualService
	DestinationRules []config.DestinationRule
	DomainSuffix     string // "cluster.local" when empty
	// RootNamespace holds DestinationRules that apply to every proxy
	// (Istio's meshConfig.rootNamespace); "istio-system" when empty.
	RootNamespace string
	// Mesh is the mesh configuration (access log settings, providers,
	// outboundTrafficPolicy); nil means Istio's defaults.
	Mesh *meshconfig.MeshConfig
	// Telemetries configure access logs per mesh, namespace and workload.
	Telemetries []config.Telemetry
	// Sidecars may set a namespace's or workload's outboundTrafficPolicy.
	Sidecars []config.Sidecar
	// TrustDomain is the trust domain of the workload identities (the
	// CA's), for the SANs of auto mutual TLS; "" takes the mesh config's
	// trustDomain, else cluster.local.
	TrustDomain string
	// PeerAuthentications set the inbound mutual-TLS mode (mtls.go).
	PeerAuthentications []config.PeerAuthentication
	// RequestAuthentications give inbound HTTP ports their JWT
	// authentication (authn.go); JWKS has the keys behind their jwksUri
	// (nil: every jwksUri gets FakeJWKS).
	RequestAuthentications []config.RequestAuthentication
	JWKS                   JWKSSource
	// AuthorizationPolicies become the inbound rbac filters (authz.go).
	AuthorizationPolicies []config.AuthorizationPolicy
}

// generator holds one Generate call's inputs and indexes.
type generator struct {
	model  *registry.Model
	pod    *registry.Pod
	suffix string
	root   string
	// mesh and telemetries configure access logs (accesslog.go); mesh and
	// sidecars the outbound traffic policy (transparent.go).
	mesh        *meshconfig.MeshConfig
	telemetries []config.Telemetry
	sidecars    []config.Sidecar
	peerAuths   []config.PeerAuthentication
	authzs      []config.AuthorizationPolicy
	trustDom    string
	// requestAuths and jwksSource configure JWT authentication (authn.go).
	requestAuths []config.RequestAuthentication
	jwksSource   JWKSSource
	// services and vss are the proxy's scope (scope.go): the services it
	// is configured for and the VirtualServices bound to the mesh that
	// apply to it, by namespace/name.
	services []*registry.Service
	vss      []vsEntry
	dri      *drIndex // DestinationRules by namespace and host
	// outbound are the outbound clusters with their merged policies, and
	// byCluster indexes them by name.
	outbound  []outboundCluster
	byCluster map[string]*outboundCluster
}

// Generate returns the resources for the proxy of one pod, keyed by
// go-control-plane resource type URL (resource.ListenerType, RouteType,
// ClusterType, EndpointType), each slice sorted by name. Identical inputs
// give identical output.
func Generate(in *Input, pod *registry.Pod) (map[string][]types.Resource, error) {
	if in == nil || in.Model == nil {
		return nil, errors.New("xds: no registry model")
	}
	if pod == nil {
		return nil, errors.New("xds: no pod")
	}
	g := newGenerator(in, pod, nil)
	listeners, err := g.listeners()
	if err != nil {
		return nil, err
	}
	clusters, err := g.clusters()
	if err != nil {
		return nil, err
	}
	out := map[string][]types.Resource{
		resource.ListenerType: listeners,
		resource.RouteType:    g.routeConfigs(),
		resource.ClusterType:  clusters,
		resource.EndpointType: g.endpoints(),
	}
	for _, res := range out {
		sortByName(res)
	}
	return out, nil
}

// newGenerator prepares the generation for one pod; dri is the Input's
// DestinationRule index (nil builds it).
func newGenerator(in *Input, pod *registry.Pod, dri *drIndex) *generator {
	g := newPodGenerator(in, pod, dri)
	g.scope(meshVirtualServices(in.VirtualServices, pod.Namespace, g.suffix, in.Mesh.GetDefaultVirtualServiceExportTo()))
	g.outbound = g.outboundClusters()
	g.byCluster = make(map[string]*outboundCluster, len(g.outbound))
	for i := range g.outbound {
		g.byCluster[g.outbound[i].name] = &g.outbound[i]
	}
	return g
}

// newPodGenerator prepares only what the pod's own listeners and clusters
// need (podListeners, podClusters): no outbound view of the mesh.
func newPodGenerator(in *Input, pod *registry.Pod, dri *drIndex) *generator {
	g := &generator{
		model:  in.Model,
		pod:    pod,
		suffix: cmp.Or(in.DomainSuffix, registry.DefaultDomainSuffix),
		root:   cmp.Or(in.RootNamespace, DefaultRootNamespace),
		dri:    dri,

		mesh:        in.Mesh,
		telemetries: in.Telemetries,
		sidecars:    in.Sidecars,
		peerAuths:   in.PeerAuthentications,
		authzs:      in.AuthorizationPolicies,
		trustDom:    in.TrustDomain,

		requestAuths: in.RequestAuthentications,
		jwksSource:   in.JWKS,
	}
	if g.dri == nil {
		g.dri = newDRIndex(in.DestinationRules, g.suffix)
	}
	return g
}

func compareMeta(a, b config.Meta) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

func sortByName(res []types.Resource) {
	slices.SortStableFunc(res, func(a, b types.Resource) int {
		return cmp.Compare(cachev3.GetResourceName(a), cachev3.GetResourceName(b))
	})
}

// toAny wraps a typed config, marshalled deterministically so that the
// snapshot version only changes when the content does.
func toAny(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		// The only user-written strings wrapped come from the configuration
		// loader, which only yields valid UTF-8, so marshalling cannot fail.
		panic(fmt.Sprintf("xds: marshal %T: %v", m, err))
	}
	return a
}
