package xds

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshconfig "istio.io/api/mesh/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// Transparent mode: a pod with its own IP (registry.Pod.IP) has its TCP
// captured into the sidecar. virtualOutbound binds 0.0.0.0:15001 and
// virtualInbound 0.0.0.0:15006, both with use_original_dst: each captured
// connection goes to the listener of its original destination, the inbound
// listener <podIP>:<port> (bind_to_port: false) for the pod's own ports or
// an outbound 0.0.0.0_<port> listener; what matches none takes the
// listener's own chain: PassthroughCluster, or BlackHoleCluster for
// outbound traffic under REGISTRY_ONLY.

// Names and addresses of the transparent-mode listeners.
const (
	VirtualInboundListener    = "virtualInbound"
	TransparentInboundAddress = "0.0.0.0:15006"
)

// transparent reports whether the pod's traffic is captured.
func (g *generator) transparent() bool { return g.pod.IP != "" }

// outboundPolicy is the pod's outboundTrafficPolicy, with Istio's
// precedence: the Sidecar of its namespace that selects it by label, else
// the one without a selector in its namespace, else the one without a
// selector in the root namespace; a Sidecar that leaves the policy unset,
// or no Sidecar, means the mesh config's.
func (g *generator) outboundPolicy() meshconfig.MeshConfig_OutboundTrafficPolicy_Mode {
	if sc := g.sidecarFor(); sc != nil && sc.Spec.GetOutboundTrafficPolicy() != nil {
		if sc.Spec.GetOutboundTrafficPolicy().GetMode() == networking.OutboundTrafficPolicy_REGISTRY_ONLY {
			return meshconfig.MeshConfig_OutboundTrafficPolicy_REGISTRY_ONLY
		}
		return meshconfig.MeshConfig_OutboundTrafficPolicy_ALLOW_ANY
	}
	if p := g.mesh.GetOutboundTrafficPolicy(); p != nil {
		return p.GetMode()
	}
	return meshconfig.MeshConfig_OutboundTrafficPolicy_ALLOW_ANY // Istio's default
}

// sidecarFor returns the Sidecar resource that applies to the pod, or nil.
func (g *generator) sidecarFor() *config.Sidecar {
	var nsDefault, rootDefault *config.Sidecar
	for i := range g.sidecars {
		sc := &g.sidecars[i]
		sel := sc.Spec.GetWorkloadSelector()
		switch {
		case sc.Namespace == g.pod.Namespace && sel != nil:
			if labelsMatch(sel.GetLabels(), g.pod.Labels) {
				return sc
			}
		case sc.Namespace == g.pod.Namespace && nsDefault == nil:
			nsDefault = sc
		case sc.Namespace == g.root && sel == nil && rootDefault == nil:
			rootDefault = sc
		}
	}
	if nsDefault != nil {
		return nsDefault
	}
	return rootDefault
}

// outboundFallbackCluster is where virtualOutbound sends what no listener
// takes.
func (g *generator) outboundFallbackCluster() string {
	if g.outboundPolicy() == meshconfig.MeshConfig_OutboundTrafficPolicy_REGISTRY_ONLY {
		return BlackHoleCluster
	}
	return PassthroughCluster
}

// transparentListeners are virtualInbound and one inbound listener per
// container port at <podIP>:<port>.
func (g *generator) transparentListeners() ([]types.Resource, error) {
	sa, _ := socketAddress(TransparentInboundAddress)
	out := []types.Resource{&listener.Listener{
		Name:             VirtualInboundListener,
		Address:          sa,
		UseOriginalDst:   wrapperspb.Bool(true),
		TrafficDirection: core.TrafficDirection_INBOUND,
		FilterChains:     []*listener.FilterChain{tcpProxyChain(PassthroughCluster)},
	}}
	for _, pp := range g.pod.Ports {
		if pp.InboundAddress == "" {
			continue
		}
		l, err := g.inboundListener(pp)
		if err != nil {
			return nil, err
		}
		l.BindToPort = wrapperspb.Bool(false)
		out = append(out, l)
	}
	return out, nil
}

// catchAllVirtualHost is Istio's last virtual host of an outbound route
// configuration in transparent mode, for hosts outside the registry on a
// mesh port: allow_any to PassthroughCluster under ALLOW_ANY, block_all
// answering 502 under REGISTRY_ONLY. nil in explicit mode.
func (g *generator) catchAllVirtualHost() *route.VirtualHost {
	if !g.transparent() {
		return nil
	}
	if g.outboundPolicy() == meshconfig.MeshConfig_OutboundTrafficPolicy_REGISTRY_ONLY {
		return &route.VirtualHost{Name: "block_all", Domains: []string{"*"}, Routes: []*route.Route{{
			Name:   "block_all",
			Match:  &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
			Action: &route.Route_DirectResponse{DirectResponse: &route.DirectResponseAction{Status: 502}},
		}}}
	}
	return &route.VirtualHost{Name: "allow_any", Domains: []string{"*"}, Routes: []*route.Route{{
		Name:  "allow_any",
		Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
		Action: &route.Route_Route{Route: &route.RouteAction{
			ClusterSpecifier: &route.RouteAction_Cluster{Cluster: PassthroughCluster},
			Timeout:          durationpb.New(0),
		}},
	}}}
}

// classKey is the part of a proxy's shared class beyond its namespace and
// labels: the Sidecar that scopes it (scope.go) and, in transparent mode,
// its outbound policy, which shapes the route configurations.
func classKey(in *Input, dri *drIndex, pod *registry.Pod) string {
	g := newPodGenerator(in, pod, dri)
	key := scopeKey(g.sidecarFor()) // scope.go
	if !IsTransparent(pod) {
		return key
	}
	return key + "\x00transparent:" + g.outboundPolicy().String()
}

// IsTransparent reports whether a registry pod is captured transparently.
func IsTransparent(p *registry.Pod) bool { return p.IP != "" }
