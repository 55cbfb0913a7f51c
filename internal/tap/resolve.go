package tap

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// RegistryService is a service as the control plane's /debug/registry
// lists it.
type RegistryService struct {
	Hostname string `json:"hostname"`
	Ports    []struct {
		Endpoints []string `json:"endpoints"` // "ip:port pod"
	} `json:"ports"`
}

// Pod is a pod of the running mesh and its sidecar's admin address.
type Pod struct {
	Name, Namespace, AdminAddress string
}

// FetchRegistry reads the control plane's /debug/registry.
func FetchRegistry(ctx context.Context, client *http.Client, adminAddress string) ([]RegistryService, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddress+"/debug/registry", nil)
	if err != nil {
		return nil, fmt.Errorf("tap: registry: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("tap: registry: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("tap: registry: status %d", resp.StatusCode)
	}
	var out []RegistryService
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("tap: registry: %w", err)
	}
	return out, nil
}

// Sidecars finds the sidecars of the pods behind a service named
// "name", "name.namespace" (namespace default when omitted) or its full
// hostname.
func Sidecars(services []RegistryService, pods []Pod, service string) ([]Sidecar, error) {
	var svc *RegistryService
	for i := range services {
		if matches(services[i].Hostname, service) {
			svc = &services[i]
			break
		}
	}
	if svc == nil {
		return nil, fmt.Errorf("tap: no service %q in the mesh", service)
	}
	namespace := strings.Split(svc.Hostname, ".")[1:]
	var names []string
	for _, p := range svc.Ports {
		for _, ep := range p.Endpoints {
			if _, pod, ok := strings.Cut(ep, " "); ok && pod != "" && !slices.Contains(names, pod) {
				names = append(names, pod)
			}
		}
	}
	var out []Sidecar
	for _, p := range pods {
		if slices.Contains(names, p.Name) && p.AdminAddress != "" && len(namespace) > 0 && p.Namespace == namespace[0] {
			out = append(out, Sidecar{Name: p.Namespace + "/" + p.Name, Address: p.AdminAddress})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("tap: service %s has no pods with a sidecar", svc.Hostname)
	}
	return out, nil
}

func matches(hostname, service string) bool {
	if hostname == service {
		return true
	}
	if !strings.Contains(service, ".") {
		service += ".default"
	}
	return strings.HasPrefix(hostname, service+".svc.")
}
