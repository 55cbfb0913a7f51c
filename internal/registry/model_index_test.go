package registry

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/halyard-mesh/halyard/internal/config"
)

// TestServicesOfIndex checks the index against a scan of every service,
// for pods with several labels, services selecting on one or two of them,
// and a namespace with the same labels.
func TestServicesOfIndex(t *testing.T) {
	svc := func(ns, name string, sel map[string]string) config.Service {
		return config.Service{Meta: config.Meta{Kind: "Service", Name: name, Namespace: ns},
			Spec: &corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	}
	cfg := &config.Snapshot{Services: []config.Service{
		svc("a", "by-app", map[string]string{"app": "x"}),
		svc("a", "by-app-version", map[string]string{"app": "x", "version": "v2"}),
		svc("a", "other", map[string]string{"app": "y"}),
		svc("b", "by-app", map[string]string{"app": "x"}),
	}}
	var pods []Pod
	for i, ns := range []string{"a", "a", "b", "a"} {
		pods = append(pods, Pod{Name: fmt.Sprintf("p%d", i), Namespace: ns, Ready: true,
			Labels: map[string]string{"app": "x", "version": fmt.Sprintf("v%d", i)}})
	}
	m, _ := Build(cfg, pods, "")
	for i := range m.Pods {
		pod := &m.Pods[i]
		var want []string
		for _, s := range m.Services {
			if s.Selector != nil && s.Namespace == pod.Namespace && selects(s.Selector, pod.Labels) {
				want = append(want, s.Hostname)
			}
		}
		var got []string
		for _, s := range m.ServicesOf(pod) {
			got = append(got, s.Hostname)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s/%s: services %v, want %v", pod.Namespace, pod.Name, got, want)
		}
		copyOf := *pod
		if got := m.ServicesOf(&copyOf); len(got) != len(want) {
			t.Errorf("%s/%s by value: %d services, want %d", pod.Namespace, pod.Name, len(got), len(want))
		}
	}
}
