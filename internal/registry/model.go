package registry

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/halyard-mesh/halyard/internal/config"
	networking "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
)

// DefaultDomainSuffix is the cluster domain of service hostnames.
const DefaultDomainSuffix = "cluster.local"

// Model is the registry at one moment: services, pods and the endpoints that
// join them. Build it with Build; it is read-only afterwards.
type Model struct {
	Services  []*Service // sorted by hostname
	Pods      []Pod      // sorted by namespace and name
	byHost    map[string]*Service
	byProxyID map[string]*Pod
	endpoints map[endpointKey][]Endpoint
	// servicesOf holds, by index in Pods, the Kubernetes services that
	// select the pod, in the order of Services.
	servicesOf [][]*Service
}

type endpointKey struct {
	host string
	port uint32
}

// Build computes the registry from a config snapshot and the running pods.
// Problems that do not stop the rest of the mesh (a Service whose targetPort
// names no container port, say) are returned as warnings.
func Build(cfg *config.Snapshot, pods []Pod, domainSuffix string) (*Model, []string) {
	if domainSuffix == "" {
		domainSuffix = DefaultDomainSuffix
	}
	m := &Model{
		byHost:    map[string]*Service{},
		byProxyID: map[string]*Pod{},
		endpoints: map[endpointKey][]Endpoint{},
	}
	var warnings []string
	for _, s := range cfg.Services {
		svc := fromKubeService(s, domainSuffix)
		m.add(svc)
	}
	for _, se := range cfg.ServiceEntries {
		for _, svc := range fromServiceEntry(se) {
			if _, dup := m.byHost[svc.Hostname]; dup {
				warnings = append(warnings, fmt.Sprintf("registry: %s: host %q is already defined; ignored", se.Ref(), svc.Hostname))
				continue
			}
			m.add(svc)
		}
	}
	slices.SortFunc(m.Services, func(a, b *Service) int { return cmp.Compare(a.Hostname, b.Hostname) })

	m.Pods = slices.Clone(pods)
	slices.SortFunc(m.Pods, func(a, b Pod) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	for i := range m.Pods {
		if id := m.Pods[i].ProxyID; id != "" {
			m.byProxyID[id] = &m.Pods[i]
		}
	}

	// WorkloadEntries are endpoints, as pods are, of the services of their
	// namespace whose selector matches their labels.
	workloadEntries := map[string][]StaticEndpoint{}
	for _, we := range cfg.WorkloadEntries {
		workloadEntries[we.Namespace] = append(workloadEntries[we.Namespace],
			StaticEndpoint{Address: we.Spec.Address, Labels: we.Spec.Labels, Ports: we.Spec.Ports, Weight: we.Spec.Weight})
	}
	m.servicesOf = make([][]*Service, len(m.Pods))
	candidates := indexPods(m.Pods)
	for _, svc := range m.Services {
		var selected []int // indexes of the pods the service selects
		if svc.Selector != nil {
			for _, i := range candidates(svc.Namespace, svc.Selector) {
				if selects(svc.Selector, m.Pods[i].Labels) {
					selected = append(selected, i)
					m.servicesOf[i] = append(m.servicesOf[i], svc)
				}
			}
		}
		for _, port := range svc.Ports {
			key := endpointKey{svc.Hostname, port.Port}
			if svc.Selector == nil {
				for _, se := range svc.StaticEndpoints {
					m.endpoints[key] = append(m.endpoints[key], se.endpoint(port))
				}
				continue
			}
			for _, we := range workloadEntries[svc.Namespace] {
				if len(svc.Selector) > 0 && selects(svc.Selector, we.Labels) {
					m.endpoints[key] = append(m.endpoints[key], we.endpoint(port))
				}
			}
			for _, i := range selected {
				pod := &m.Pods[i]
				if !pod.Ready {
					continue
				}
				pp, ok := targetPort(pod, port)
				if !ok {
					warnings = append(warnings, fmt.Sprintf("registry: service %s port %d: pod %s has no container port %q", svc.Hostname, port.Port, pod.Name, port.TargetPort))
					continue
				}
				m.endpoints[key] = append(m.endpoints[key], podEndpoint(pod, pp))
			}
		}
	}
	return m, warnings
}

func (m *Model) add(svc *Service) {
	m.Services = append(m.Services, svc)
	m.byHost[svc.Hostname] = svc
}

// Service returns the service with that fully qualified hostname, or nil.
func (m *Model) Service(hostname string) *Service { return m.byHost[hostname] }

// Endpoints returns the endpoints behind a service port, in a stable order.
func (m *Model) Endpoints(hostname string, port uint32) []Endpoint {
	return m.endpoints[endpointKey{hostname, port}]
}

// PodByProxyID returns the pod whose sidecar has that xDS node ID.
func (m *Model) PodByProxyID(id string) (*Pod, bool) {
	p, ok := m.byProxyID[id]
	return p, ok
}

// ServicesOf returns the Kubernetes services that select the pod.
func (m *Model) ServicesOf(pod *Pod) []*Service {
	if i, ok := m.podIndex(pod); ok {
		return m.servicesOf[i]
	}
	var out []*Service // a pod not of this model
	for _, svc := range m.Services {
		if svc.Selector != nil && svc.Namespace == pod.Namespace && selects(svc.Selector, pod.Labels) {
			out = append(out, svc)
		}
	}
	return out
}

// podIndex finds the pod in Pods by namespace and name (a pod of another
// model with other labels is not found).
func (m *Model) podIndex(pod *Pod) (int, bool) {
	i, ok := slices.BinarySearchFunc(m.Pods, pod, func(a Pod, b *Pod) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	if ok && maps.Equal(m.Pods[i].Labels, pod.Labels) {
		return i, true
	}
	return 0, false
}

// indexPods returns a function giving the pods (by index) of a namespace
// that have one of a selector's labels: the candidates the selector is
// then checked against.
func indexPods(pods []Pod) func(namespace string, selector map[string]string) []int {
	type key struct{ namespace, label, value string }
	byLabel := map[key][]int{}
	for i := range pods {
		for k, v := range pods[i].Labels {
			kk := key{pods[i].Namespace, k, v}
			byLabel[kk] = append(byLabel[kk], i)
		}
	}
	return func(namespace string, selector map[string]string) []int {
		var best []int
		first := true
		for k, v := range selector {
			c := byLabel[key{namespace, k, v}]
			if first || len(c) < len(best) {
				best, first = c, false
			}
		}
		return best
	}
}

// TargetPort resolves a service port to the pod's container port.
func TargetPort(pod *Pod, port Port) (PodPort, bool) { return targetPort(pod, port) }

func targetPort(pod *Pod, port Port) (PodPort, bool) {
	want := port.TargetPort
	if want == "" {
		want = strconv.Itoa(int(port.Port))
	}
	n, err := strconv.Atoi(want)
	for _, pp := range pod.Ports {
		if (err == nil && pp.ContainerPort == uint32(n)) || (err != nil && pp.Name == want) {
			return pp, true
		}
	}
	return PodPort{}, false
}

func podEndpoint(pod *Pod, pp PodPort) Endpoint {
	addr := pp.InboundAddress
	sidecar := addr != ""
	if !sidecar {
		addr = pp.AppAddress
	}
	host, portStr, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(portStr)
	return Endpoint{Address: host, Port: uint32(p), Labels: pod.Labels, Pod: pod.Name, Sidecar: sidecar}
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func fromKubeService(s config.Service, domainSuffix string) *Service {
	svc := &Service{
		Hostname:   fmt.Sprintf("%s.%s.svc.%s", s.Name, s.Namespace, domainSuffix),
		Name:       s.Name,
		Namespace:  s.Namespace,
		Selector:   map[string]string{},
		ExportTo:   ExportToAnnotation(s.Annotations),
		Kubernetes: true,
	}
	if s.Spec.Type == corev1.ServiceTypeExternalName {
		// As Istio: a DNS service outside the mesh, at externalName on
		// the Service's own ports.
		svc.Selector, svc.MeshExternal, svc.Resolution = nil, true, DNS
		svc.StaticEndpoints = []StaticEndpoint{{Address: s.Spec.ExternalName}}
	}
	for k, v := range s.Spec.Selector {
		svc.Selector[k] = v
	}
	for _, p := range s.Spec.Ports {
		appProto := ""
		if p.AppProtocol != nil {
			appProto = *p.AppProtocol
		}
		svc.Ports = append(svc.Ports, Port{
			Name:       p.Name,
			Port:       uint32(p.Port),
			Protocol:   ProtocolOf(p.Name, appProto, p.Protocol),
			TargetPort: p.TargetPort.String(),
		})
	}
	for i, p := range svc.Ports {
		if p.TargetPort == "0" || svc.Selector == nil { // ExternalName: no target port
			svc.Ports[i].TargetPort = ""
		}
	}
	return svc
}

func fromServiceEntry(se config.ServiceEntry) []*Service {
	var out []*Service
	for _, host := range se.Spec.Hosts {
		svc := &Service{
			Hostname:        host,
			Name:            host,
			Namespace:       se.Namespace,
			MeshExternal:    se.Spec.Location != networking.ServiceEntry_MESH_INTERNAL,
			SubjectAltNames: se.Spec.SubjectAltNames,
			Resolution:      resolutionOf(se.Spec.Resolution),
			ExportTo:        se.Spec.ExportTo,
		}
		for _, p := range se.Spec.Ports {
			tp := ""
			if p.TargetPort != 0 {
				tp = strconv.Itoa(int(p.TargetPort))
			}
			svc.Ports = append(svc.Ports, Port{Name: p.Name, Port: p.Number, Protocol: ProtocolOf(p.Name, p.Protocol, ""), TargetPort: tp})
		}
		for _, we := range se.Spec.Endpoints {
			svc.StaticEndpoints = append(svc.StaticEndpoints, StaticEndpoint{Address: we.Address, Labels: we.Labels, Ports: we.Ports, Weight: we.Weight})
		}
		if sel := se.Spec.WorkloadSelector; sel != nil && svc.Resolution != Passthrough {
			// As Istio: the pods of the entry's namespace with those
			// labels are its endpoints, at the ports' targetPort.
			svc.Selector, svc.Resolution = maps.Clone(sel.Labels), Listed
			if svc.Selector == nil {
				svc.Selector = map[string]string{}
			}
		} else if len(se.Spec.Endpoints) == 0 && (svc.Resolution == DNS || svc.Resolution == DNSRoundRobin) {
			// As Istio: without endpoints, the host itself is resolved.
			svc.StaticEndpoints = []StaticEndpoint{{Address: host}}
		}
		out = append(out, svc)
	}
	return out
}

// ExportToAnnotationKey is the Service annotation that sets its exportTo,
// as in Istio: namespaces separated by commas ("." and "*" as in exportTo).
const ExportToAnnotationKey = "networking.istio.io/exportTo"

// ExportToAnnotation parses a Service's exportTo annotation; nil when it
// has none.
func ExportToAnnotation(annotations map[string]string) []string {
	v, ok := annotations[ExportToAnnotationKey]
	if !ok {
		return nil
	}
	var out []string
	for _, ns := range strings.Split(v, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			out = append(out, ns)
		}
	}
	return out
}

func resolutionOf(r networking.ServiceEntry_Resolution) Resolution {
	switch r {
	case networking.ServiceEntry_NONE:
		return Passthrough
	case networking.ServiceEntry_DNS:
		return DNS
	case networking.ServiceEntry_DNS_ROUND_ROBIN:
		return DNSRoundRobin
	}
	return Listed
}

// ProtocolOf applies Istio's protocol selection: an explicit protocol
// (appProtocol, or a ServiceEntry port's protocol) wins, then the port
// name's prefix before the first '-'.
func ProtocolOf(name, explicit string, kubeProto corev1.Protocol) Protocol {
	if kubeProto == corev1.ProtocolUDP || kubeProto == corev1.ProtocolSCTP {
		return TCP
	}
	if p, ok := parseProtocol(explicit); ok {
		return p
	}
	prefix, _, _ := strings.Cut(name, "-")
	if p, ok := parseProtocol(prefix); ok {
		return p
	}
	return Unsupported
}

func parseProtocol(s string) (Protocol, bool) {
	switch strings.ToLower(s) {
	case "http", "http-web", "kubernetes.io/http":
		return HTTP, true
	case "http2", "kubernetes.io/h2c":
		return HTTP2, true
	case "grpc", "grpc-web":
		return GRPC, true
	case "tcp", "mongo", "redis", "mysql":
		return TCP, true
	case "tls":
		return TLS, true
	case "https", "kubernetes.io/ws", "kubernetes.io/wss":
		if strings.EqualFold(s, "https") {
			return HTTPS, true
		}
		return HTTP, true
	}
	return "", false
}

// StaticEndpoint is a ServiceEntry endpoint: an address with optional
// per-port-name overrides of the port number.
type StaticEndpoint struct {
	Address string
	Labels  map[string]string
	Ports   map[string]uint32
	Weight  uint32 // load balancing weight; 0 is 1
}

func (se StaticEndpoint) endpoint(p Port) Endpoint {
	port := p.Port
	if n, ok := se.Ports[p.Name]; ok {
		port = n
	} else if n, err := strconv.Atoi(p.TargetPort); err == nil && n > 0 {
		port = uint32(n)
	}
	return Endpoint{Address: se.Address, Port: port, Labels: se.Labels, Weight: se.Weight}
}
