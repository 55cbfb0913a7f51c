// Package cpsim builds the synthetic mesh of the control-plane scale
// benchmark (services x versions, one pod with a sidecar per service
// version) and serves it with Halyard's control plane, driven by commands
// on a pipe; see Serve. The bench runs it as a separate process
// (internal/bench/cpserver) so that the control plane's RSS and CPU can be
// measured apart from the simulated proxies.
package cpsim

import (
	"fmt"

	networking "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// Namespace holds every synthetic service and pod.
const Namespace = "default"

// servicePort is every service's HTTP port and its pods' container port.
const servicePort = 8080

// Spec is the size of the synthetic mesh.
type Spec struct {
	Services int // services svc-0000, svc-0001, ...
	Versions int // versions v1, v2, ... per service: one pod (and proxy) each
}

// Proxies is the number of pods, each with a sidecar.
func (s Spec) Proxies() int { return s.Services * s.Versions }

func serviceName(i int) string { return fmt.Sprintf("svc-%04d", i) }

func podName(i, v int) string { return fmt.Sprintf("%s-v%d-0", serviceName(i), v) }

// ProxyID is the xDS node ID of the sidecar of service i's version v
// (1-based), in Istio's format as the local runner writes it.
func ProxyID(i, v int) string {
	return fmt.Sprintf("sidecar~127.0.0.1~%s.%s~%s.svc.cluster.local", podName(i, v), Namespace, Namespace)
}

// ProxyIDs lists every sidecar's node ID.
func ProxyIDs(s Spec) []string {
	ids := make([]string, 0, s.Proxies())
	for i := range s.Services {
		for v := 1; v <= s.Versions; v++ {
			ids = append(ids, ProxyID(i, v))
		}
	}
	return ids
}

// Config returns the mesh's configuration at a generation: a Service, a
// DestinationRule with one subset per version and a VirtualService
// splitting traffic over the versions, per service. Successive
// generations differ only in svc-0000's weights, which changes the route
// configuration every proxy receives.
func Config(s Spec, generation int) *config.Snapshot {
	cfg := &config.Snapshot{}
	for i := range s.Services {
		name := serviceName(i)
		cfg.Services = append(cfg.Services, config.Service{
			Meta: meta("v1", "Service", name),
			Spec: &corev1.ServiceSpec{
				Selector: map[string]string{"app": name},
				Ports:    []corev1.ServicePort{{Name: "http", Port: servicePort, TargetPort: intstr.FromInt32(servicePort)}},
			},
		})
		dr := &networking.DestinationRule{Host: name}
		vs := &networking.VirtualService{Hosts: []string{name}}
		route := &networking.HTTPRoute{}
		weights := splitWeights(s.Versions, i == 0 && generation%2 == 1)
		for v := 1; v <= s.Versions; v++ {
			subset := fmt.Sprintf("v%d", v)
			dr.Subsets = append(dr.Subsets, &networking.Subset{Name: subset, Labels: map[string]string{"version": subset}})
			route.Route = append(route.Route, &networking.HTTPRouteDestination{
				Destination: &networking.Destination{Host: name, Subset: subset},
				Weight:      weights[v-1],
			})
		}
		vs.Http = []*networking.HTTPRoute{route}
		cfg.DestinationRules = append(cfg.DestinationRules, config.DestinationRule{Meta: meta("networking.istio.io/v1", "DestinationRule", name), Spec: dr})
		cfg.VirtualServices = append(cfg.VirtualServices, config.VirtualService{Meta: meta("networking.istio.io/v1", "VirtualService", name), Spec: vs})
	}
	return cfg
}

// splitWeights gives the first version most of the traffic and the others
// an equal small share (the reverse when flipped); they sum to 100.
func splitWeights(n int, flip bool) []int32 {
	w := make([]int32, n)
	small := int32(10)
	if n > 10 {
		small = 100 / int32(n)
	}
	for i := range w {
		w[i] = small
	}
	w[0] = 100 - small*int32(n-1)
	if flip {
		w[0], w[n-1] = w[n-1], w[0]
	}
	return w
}

func meta(apiVersion, kind, name string) config.Meta {
	return config.Meta{APIVersion: apiVersion, Kind: kind, Name: name, Namespace: Namespace,
		Source: config.Source{File: "cpsim"}}
}

// Pods returns every pod, ready and with a sidecar. Their addresses are
// never dialled; they only have to be distinct (up to 11000 pods).
func Pods(s Spec) []registry.Pod {
	pods := make([]registry.Pod, 0, s.Proxies())
	for i := range s.Services {
		for v := 1; v <= s.Versions; v++ {
			n := len(pods)
			addr := func(k int) string { return fmt.Sprintf("127.0.0.1:%d", 20000+4*n+k) }
			pods = append(pods, registry.Pod{
				Name: podName(i, v), Namespace: Namespace, Workload: fmt.Sprintf("%s-v%d", serviceName(i), v),
				ServiceAccount: "default",
				Labels:         map[string]string{"app": serviceName(i), "version": fmt.Sprintf("v%d", v)},
				Ports: []registry.PodPort{{Name: "http", ContainerPort: servicePort,
					AppAddress: addr(0), InboundAddress: addr(1)}},
				ProxyID:         ProxyID(i, v),
				OutboundAddress: addr(2),
				AdminAddress:    addr(3),
				Ready:           true,
			})
		}
	}
	return pods
}
