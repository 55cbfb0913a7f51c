package local

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"

	"github.com/halyard-mesh/halyard/internal/config"
)

// InjectAnnotation turns the sidecar off for a pod when set to "false",
// as in Istio.
const InjectAnnotation = "sidecar.istio.io/inject"

// podSpec is what a pod should run; pods whose spec hash changes restart.
type podSpec struct {
	Name, Namespace, Workload, ServiceAccount string
	Labels, Annotations                       map[string]string
	Containers                                []corev1.Container
	Sidecar                                   bool
	Hash                                      string
}

func (s podSpec) key() string { return s.Namespace + "/" + s.Name }

// desiredPods expands Deployments into pod specs (one per replica) and adds
// the mesh's client pods.
func desiredPods(cfg *config.Snapshot, clients []ClientPod) []podSpec {
	var out []podSpec
	for _, d := range cfg.Deployments {
		replicas := 1
		if d.Spec.Replicas != nil {
			replicas = int(*d.Spec.Replicas)
		}
		tmpl := d.Spec.Template
		sa := tmpl.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		hash := specHash(tmpl)
		for i := range replicas {
			out = append(out, podSpec{
				Name:           fmt.Sprintf("%s-%d", d.Name, i),
				Namespace:      d.Namespace,
				Workload:       d.Name,
				ServiceAccount: sa,
				Labels:         maps.Clone(tmpl.Labels),
				Annotations:    maps.Clone(tmpl.Annotations),
				Containers:     tmpl.Spec.Containers,
				Sidecar:        tmpl.Annotations[InjectAnnotation] != "false",
				Hash:           hash,
			})
		}
	}
	for _, c := range clients {
		out = append(out, podSpec{
			Name: c.Name, Namespace: c.Namespace, Workload: c.Name, ServiceAccount: c.ServiceAccount,
			Labels: map[string]string{"app": c.Name}, Sidecar: true, Hash: "client",
		})
	}
	return out
}

func specHash(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// ClientPod is a pod with only a sidecar, for clients that join the mesh from
// outside it (halyard exec).
type ClientPod struct{ Name, Namespace, ServiceAccount string }
