package controlplane

import (
	"testing"

	"google.golang.org/protobuf/proto"
	meshconfig "istio.io/api/mesh/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/halyard-mesh/halyard/internal/config"
)

func TestOnlyRoutesChanged(t *testing.T) {
	base := func() *config.Snapshot {
		return &config.Snapshot{
			Mesh: config.DefaultMeshConfig(),
			VirtualServices: []config.VirtualService{{Meta: config.Meta{Name: "reviews", Namespace: "default"},
				Spec: &networking.VirtualService{Hosts: []string{"reviews"}}}},
			DestinationRules: []config.DestinationRule{{Meta: config.Meta{Name: "reviews", Namespace: "default",
				Source: config.Source{File: "a.yaml", Line: 1}}, Spec: &networking.DestinationRule{Host: "reviews"}}},
		}
	}
	for _, tc := range []struct {
		name   string
		change func(s *config.Snapshot)
		want   bool
	}{
		{"nothing", func(*config.Snapshot) {}, true},
		{"a VirtualService", func(s *config.Snapshot) { s.VirtualServices[0].Spec.Hosts = []string{"ratings"} }, true},
		{"a DestinationRule moved in its file", func(s *config.Snapshot) { s.DestinationRules[0].Source.Line = 40 }, true},
		{"a DestinationRule's spec", func(s *config.Snapshot) { s.DestinationRules[0].Spec.Host = "ratings" }, false},
		{"a DestinationRule's labels", func(s *config.Snapshot) { s.DestinationRules[0].Labels = map[string]string{"a": "b"} }, false},
		{"a DestinationRule more", func(s *config.Snapshot) {
			s.DestinationRules = append(s.DestinationRules, config.DestinationRule{Spec: &networking.DestinationRule{Host: "x"}})
		}, false},
		{"the mesh config", func(s *config.Snapshot) {
			s.Mesh = proto.Clone(s.Mesh).(*meshconfig.MeshConfig)
			s.Mesh.AccessLogFile = "/dev/stdout"
		}, false},
	} {
		cur := base()
		tc.change(cur)
		if got := onlyRoutesChanged(base(), cur); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if onlyRoutesChanged(nil, base()) {
		t.Error("the first config: want a full push")
	}
}
