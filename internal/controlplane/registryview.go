package controlplane

import (
	"fmt"

	"github.com/halyard-mesh/halyard/internal/registry"
)

type serviceView struct {
	Hostname string     `json:"hostname"`
	Ports    []portView `json:"ports"`
	External bool       `json:"external,omitempty"`
}

type portView struct {
	Port      uint32   `json:"port"`
	Name      string   `json:"name,omitempty"`
	Protocol  string   `json:"protocol"`
	Endpoints []string `json:"endpoints"`
}

// registryView renders the registry for the admin API.
func registryView(m *registry.Model) []serviceView {
	if m == nil {
		return nil
	}
	out := []serviceView{}
	for _, svc := range m.Services {
		v := serviceView{Hostname: svc.Hostname, External: svc.MeshExternal}
		for _, p := range svc.Ports {
			pv := portView{Port: p.Port, Name: p.Name, Protocol: string(p.Protocol), Endpoints: []string{}}
			for _, ep := range m.Endpoints(svc.Hostname, p.Port) {
				pv.Endpoints = append(pv.Endpoints, fmt.Sprintf("%s:%d %s", ep.Address, ep.Port, ep.Pod))
			}
			v.Ports = append(v.Ports, pv)
		}
		out = append(out, v)
	}
	return out
}
