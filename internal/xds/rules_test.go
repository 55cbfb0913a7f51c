package xds

import (
	"slices"
	"testing"

	networking "istio.io/api/networking/v1alpha3"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/registry"
)

func vs(ns, name string, gateways []string, hosts ...string) config.VirtualService {
	return config.VirtualService{
		Meta: config.Meta{Kind: "VirtualService", Namespace: ns, Name: name},
		Spec: &networking.VirtualService{Hosts: hosts, Gateways: gateways},
	}
}

func TestVirtualServiceFor(t *testing.T) {
	const reviews = "reviews.default.svc.cluster.local"
	for _, tc := range []struct {
		name string
		vss  []config.VirtualService
		want string // namespace/name, "" for none
	}{
		{"none", nil, ""},
		{"short name in own namespace", []config.VirtualService{vs("default", "r", nil, "reviews")}, "default/r"},
		{"short name in another namespace", []config.VirtualService{vs("shop", "r", nil, "reviews")}, ""},
		{"dotted name is not expanded", []config.VirtualService{vs("default", "r", nil, "reviews.default")}, ""},
		{"gateway only", []config.VirtualService{vs("default", "r", []string{"ingress"}, "reviews")}, ""},
		{"mesh and gateway", []config.VirtualService{vs("default", "r", []string{"ingress", "mesh"}, "reviews")}, "default/r"},
		{"first by namespace/name", []config.VirtualService{
			vs("default", "b", nil, "reviews"), vs("shop", "a", nil, reviews), vs("default", "a", nil, "reviews"),
		}, "default/a"},
		{"exact beats wildcard", []config.VirtualService{
			vs("default", "a", nil, "*.svc.cluster.local"), vs("default", "z", nil, "reviews"),
		}, "default/z"},
		{"longer wildcard beats shorter", []config.VirtualService{
			vs("default", "a", nil, "*"), vs("default", "b", nil, "*.default.svc.cluster.local"), vs("default", "c", nil, "*.cluster.local"),
		}, "default/b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := testGenerator(tc.vss, nil)
			got := ""
			if v := g.virtualServiceFor(reviews); v != nil {
				got = v.Namespace + "/" + v.Name
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func dr(ns, name, host string, lb networking.LoadBalancerSettings_SimpleLB, subsets ...string) config.DestinationRule {
	spec := &networking.DestinationRule{Host: host}
	if lb != networking.LoadBalancerSettings_UNSPECIFIED {
		spec.TrafficPolicy = &networking.TrafficPolicy{LoadBalancer: &networking.LoadBalancerSettings{
			LbPolicy: &networking.LoadBalancerSettings_Simple{Simple: lb},
		}}
	}
	for _, s := range subsets {
		spec.Subsets = append(spec.Subsets, &networking.Subset{Name: s})
	}
	return config.DestinationRule{Meta: config.Meta{Kind: "DestinationRule", Namespace: ns, Name: name}, Spec: spec}
}

func TestDestinationRuleFor(t *testing.T) {
	const (
		none   = networking.LoadBalancerSettings_UNSPECIFIED
		random = networking.LoadBalancerSettings_RANDOM
		least  = networking.LoadBalancerSettings_LEAST_REQUEST
	)
	svc := &registry.Service{Hostname: "reviews.default.svc.cluster.local", Name: "reviews", Namespace: "default"}
	for _, tc := range []struct {
		name    string
		drs     []config.DestinationRule
		lb      networking.LoadBalancerSettings_SimpleLB
		subsets []string
	}{
		{"none", nil, none, nil},
		{"service namespace", []config.DestinationRule{dr("default", "r", "reviews", random, "v1")}, random, []string{"v1"}},
		{"proxy namespace first", []config.DestinationRule{
			dr("default", "r", "reviews", random, "v1"), dr("shop", "r", "reviews.default.svc.cluster.local", least, "s1"),
		}, least, []string{"s1"}},
		{"root namespace last", []config.DestinationRule{
			dr("istio-system", "all", "*", random), dr("default", "r", "reviews", least),
		}, least, nil},
		{"root namespace", []config.DestinationRule{dr("istio-system", "all", "*", random)}, random, nil},
		{"unrelated namespace ignored", []config.DestinationRule{dr("team-b", "r", "reviews.default.svc.cluster.local", random)}, none, nil},
		{"short name resolves in the rule's namespace", []config.DestinationRule{dr("shop", "r", "reviews", random)}, none, nil},
		{"exact beats wildcard in one namespace", []config.DestinationRule{
			dr("default", "a", "*.default.svc.cluster.local", random, "w"), dr("default", "b", "reviews", least, "e"),
		}, least, []string{"e"}},
		{"same host merged", []config.DestinationRule{
			dr("default", "b", "reviews", random, "v2", "v1"), dr("default", "a", "reviews", none, "v1", "v3"),
		}, random, []string{"v1", "v3", "v2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := testGenerator(nil, tc.drs)
			g.pod = &registry.Pod{Name: "frontend-0", Namespace: "shop"}
			got := g.destinationRuleFor(svc)
			var names []string
			var lb networking.LoadBalancerSettings_SimpleLB
			if got != nil {
				lb = got.policy.GetLoadBalancer().GetSimple()
				for _, s := range got.subsets {
					names = append(names, s.Name)
				}
			}
			if lb != tc.lb || !slices.Equal(names, tc.subsets) {
				t.Errorf("got lb %v subsets %v, want %v %v", lb, names, tc.lb, tc.subsets)
			}
		})
	}
}

func TestWorkloadSelectorDestinationRule(t *testing.T) {
	rule := dr("shop", "r", "reviews.default.svc.cluster.local", networking.LoadBalancerSettings_RANDOM)
	rule.Spec.WorkloadSelector = &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": "frontend"}}
	svc := &registry.Service{Hostname: "reviews.default.svc.cluster.local", Namespace: "default"}
	for _, tc := range []struct {
		pod  registry.Pod
		want bool
	}{
		{registry.Pod{Namespace: "shop", Labels: map[string]string{"app": "frontend"}}, true},
		{registry.Pod{Namespace: "shop", Labels: map[string]string{"app": "cart"}}, false},
		{registry.Pod{Namespace: "other", Labels: map[string]string{"app": "frontend"}}, false},
	} {
		g := testGenerator(nil, []config.DestinationRule{rule})
		g.pod = &tc.pod
		if got := g.destinationRuleFor(svc) != nil; got != tc.want {
			t.Errorf("pod %s %v: applies = %v, want %v", tc.pod.Namespace, tc.pod.Labels, got, tc.want)
		}
	}
}

func testGenerator(vss []config.VirtualService, drs []config.DestinationRule) *generator {
	model, _ := registry.Build(&config.Snapshot{}, nil, "")
	pod := &registry.Pod{Name: "productpage-0", Namespace: "default"}
	return newGenerator(&Input{Model: model, VirtualServices: vss, DestinationRules: drs}, pod, nil)
}
