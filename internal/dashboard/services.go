package dashboard

import (
	"slices"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/registry"
	"github.com/halyard-mesh/halyard/internal/xds"
)

// Service is one service as the UI lists it.
type Service struct {
	Name             string   `json:"name"`
	Namespace        string   `json:"namespace"`
	Hostname         string   `json:"hostname"`
	External         bool     `json:"external,omitempty"`
	Versions         []string `json:"versions"`
	Endpoints        int      `json:"endpoints"`
	VirtualServices  []Object `json:"virtualServices"`
	DestinationRules []Object `json:"destinationRules"`
}

// Object is one applied Istio object, its spec rendered as YAML.
type Object struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Source    string `json:"source"` // file:line
	YAML      string `json:"yaml"`
}

// services lists every service with the objects whose hosts name it.
func services(m *registry.Model, cfg *config.Snapshot, domainSuffix string) []Service {
	out := []Service{}
	if m == nil {
		return out
	}
	for _, svc := range m.Services {
		s := Service{Name: svc.Name, Namespace: svc.Namespace, Hostname: svc.Hostname, External: svc.MeshExternal,
			Versions: []string{}, VirtualServices: []Object{}, DestinationRules: []Object{}}
		for _, p := range svc.Ports {
			for _, ep := range m.Endpoints(svc.Hostname, p.Port) {
				s.Endpoints++
				if v := ep.Labels["version"]; v != "" && !slices.Contains(s.Versions, v) {
					s.Versions = append(s.Versions, v)
				}
			}
		}
		slices.Sort(s.Versions)
		if cfg != nil {
			for _, vs := range cfg.VirtualServices {
				if namesHost(vs.Spec.GetHosts(), vs.Namespace, svc.Hostname, domainSuffix) {
					s.VirtualServices = append(s.VirtualServices, object(vs.Meta, vs.Spec))
				}
			}
			for _, dr := range cfg.DestinationRules {
				if namesHost([]string{dr.Spec.GetHost()}, dr.Namespace, svc.Hostname, domainSuffix) {
					s.DestinationRules = append(s.DestinationRules, object(dr.Meta, dr.Spec))
				}
			}
		}
		out = append(out, s)
	}
	return out
}

func namesHost(hosts []string, namespace, hostname, domainSuffix string) bool {
	for _, h := range hosts {
		if xds.HostMatches(xds.ResolveHost(h, namespace, domainSuffix), hostname) {
			return true
		}
	}
	return false
}

func object(meta config.Meta, spec proto.Message) Object {
	o := Object{Name: meta.Name, Namespace: meta.Namespace, Source: meta.Source.String()}
	b, err := protojson.Marshal(spec)
	if err == nil {
		b, err = yaml.JSONToYAML(b)
	}
	if err != nil {
		o.YAML = "# " + err.Error()
	} else {
		o.YAML = string(b)
	}
	return o
}
