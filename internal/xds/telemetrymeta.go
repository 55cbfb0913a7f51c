package xds

import (
	"cmp"
	"slices"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/halyard-mesh/halyard/internal/registry"
)

// ClusterID is the cluster name telemetry reports for every workload, as
// Istio's default for a single cluster.
const ClusterID = "Kubernetes"

// podNamed returns the pod of that namespace and name, or nil.
func podNamed(m *registry.Model, namespace, name string) *registry.Pod {
	if name == "" {
		return nil
	}
	i, ok := slices.BinarySearchFunc(m.Pods, [2]string{namespace, name}, func(p registry.Pod, k [2]string) int {
		return cmp.Or(cmp.Compare(p.Namespace, k[0]), cmp.Compare(p.Name, k[1]))
	})
	if !ok {
		return nil
	}
	return &m.Pods[i]
}

// workloadMetadata is an endpoint's filter_metadata["istio"]: Istio's
// workload = "name;namespace;canonical_service;canonical_revision;cluster",
// plus app and version (the pod's labels), which Istio learns by metadata
// exchange instead. None for an endpoint without a pod.
func workloadMetadata(pod *registry.Pod) *core.Metadata {
	if pod == nil {
		return nil
	}
	name := cmp.Or(pod.Workload, pod.Name)
	cs, cr := CanonicalService(pod.Labels, name), CanonicalRevision(pod.Labels)
	return &core.Metadata{FilterMetadata: map[string]*structpb.Struct{
		"istio": {Fields: map[string]*structpb.Value{
			"workload": structpb.NewStringValue(name + ";" + pod.Namespace + ";" + cs + ";" + cr + ";" + ClusterID),
			"app":      structpb.NewStringValue(pod.Labels["app"]),
			"version":  structpb.NewStringValue(pod.Labels["version"]),
		}},
	}}
}

// serviceMetadata is a cluster's filter_metadata["istio"].services, as
// Istio's: one {host, name, namespace} per service. None without services.
func serviceMetadata(svcs []*registry.Service) *core.Metadata {
	if len(svcs) == 0 {
		return nil
	}
	list := make([]*structpb.Value, 0, len(svcs))
	for _, s := range svcs {
		list = append(list, structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"host":      structpb.NewStringValue(s.Hostname),
			"name":      structpb.NewStringValue(s.Name),
			"namespace": structpb.NewStringValue(s.Namespace),
		}}))
	}
	return &core.Metadata{FilterMetadata: map[string]*structpb.Struct{
		"istio": {Fields: map[string]*structpb.Value{"services": structpb.NewListValue(&structpb.ListValue{Values: list})}},
	}}
}

// CanonicalService is Istio's canonical service of a workload: the label
// service.istio.io/canonical-name, app.kubernetes.io/name or app, else the
// workload's name.
func CanonicalService(labels map[string]string, workload string) string {
	return cmp.Or(labels["service.istio.io/canonical-name"], labels["app.kubernetes.io/name"], labels["app"], workload)
}

// CanonicalRevision is Istio's canonical revision: the label
// service.istio.io/canonical-revision, app.kubernetes.io/version or
// version, else "latest".
func CanonicalRevision(labels map[string]string) string {
	return cmp.Or(labels["service.istio.io/canonical-revision"], labels["app.kubernetes.io/version"], labels["version"], "latest")
}

// servicesTargeting returns the services of the proxy's pod that send
// traffic to that container port.
func (g *generator) servicesTargeting(pp registry.PodPort) []*registry.Service {
	var out []*registry.Service
	for _, svc := range g.model.ServicesOf(g.pod) {
		for _, p := range svc.Ports {
			if tp, ok := registry.TargetPort(g.pod, p); ok && tp.ContainerPort == pp.ContainerPort {
				out = append(out, svc)
				break
			}
		}
	}
	return out
}
