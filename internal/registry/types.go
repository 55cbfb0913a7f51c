// Package registry is the control plane's service registry: the services the
// mesh knows (from Kubernetes Services and Istio ServiceEntries), the pods
// that run them, and the endpoints that join the two. It is computed afresh
// from a config snapshot and the list of running pods, and never mutated.
package registry

// Protocol is a service port's application protocol, decided by Istio's
// rules: appProtocol first, then the port name's prefix ("http-web", "grpc").
type Protocol string

const (
	HTTP  Protocol = "HTTP"
	HTTP2 Protocol = "HTTP2"
	GRPC  Protocol = "GRPC"
	TCP   Protocol = "TCP"
	TLS   Protocol = "TLS"
	HTTPS Protocol = "HTTPS"
	// Unsupported means the name gave no protocol; Istio sniffs such ports,
	// and Halyard treats them as HTTP/1.1 until transparent capture exists.
	Unsupported Protocol = "UnsupportedProtocol"
)

// IsHTTP reports whether traffic on the port is routed at layer 7.
func (p Protocol) IsHTTP() bool {
	return p == HTTP || p == HTTP2 || p == GRPC || p == Unsupported
}

// IsHTTP2 reports whether upstream connections must speak HTTP/2.
func (p Protocol) IsHTTP2() bool { return p == HTTP2 || p == GRPC }

// Port is one port of a service.
type Port struct {
	Name     string
	Port     uint32
	Protocol Protocol
	// TargetPort is the Service's targetPort: a number, or a container port
	// name to look up in each pod ("" means the same number as Port).
	TargetPort string
}

// Service is a host the mesh can route to.
type Service struct {
	Hostname  string // fully qualified: reviews.default.svc.cluster.local
	Name      string // reviews (for a ServiceEntry, its first host)
	Namespace string
	Ports     []Port
	// Kubernetes is set for a Kubernetes Service (its short names
	// resolve in its namespace).
	Kubernetes bool
	// Selector picks the pods behind a Kubernetes Service; nil for a
	// ServiceEntry or an ExternalName Service, whose endpoints are listed
	// in StaticEndpoints.
	Selector        map[string]string
	MeshExternal    bool
	StaticEndpoints []StaticEndpoint
	// ExportTo are the namespaces whose proxies see the service (Istio's
	// exportTo: "*" or empty for all, "." for its own, "~" for none): a
	// ServiceEntry's spec.exportTo, a Service's networking.istio.io/exportTo
	// annotation.
	ExportTo []string
	// Resolution is how a proxy finds the service's endpoints: Kubernetes
	// Services and STATIC ServiceEntries are Listed (EDS).
	Resolution Resolution
	// SubjectAltNames are a ServiceEntry's subjectAltNames: the identities
	// its endpoints' certificates carry.
	SubjectAltNames []string
}

// Resolution is a ServiceEntry's resolution: how a proxy finds the
// addresses behind the service.
type Resolution uint8

// Resolutions. The zero value is Listed.
const (
	// Listed: the endpoints are the ones the mesh knows (a Kubernetes
	// Service's pods, a STATIC ServiceEntry's addresses), sent by EDS.
	Listed Resolution = iota
	// Passthrough (resolution NONE): a connection goes where the
	// application sent it (its original destination).
	Passthrough
	// DNS: the proxy resolves each endpoint's host name (the
	// ServiceEntry's hosts when it lists no endpoints).
	DNS
	// DNSRoundRobin (DNS_ROUND_ROBIN): as DNS, but the one endpoint's
	// addresses are a single logical host.
	DNSRoundRobin
)

// Port returns the service port with that number, or false.
func (s *Service) Port(n uint32) (Port, bool) {
	for _, p := range s.Ports {
		if p.Port == n {
			return p, true
		}
	}
	return Port{}, false
}

// PodPort is one container port of a pod, and where it can be reached.
type PodPort struct {
	Name          string
	ContainerPort uint32
	// AppAddress is where the application itself listens (host:port).
	AppAddress string
	// InboundAddress is where the pod's sidecar accepts traffic for this
	// port; peers send here. Empty for a pod without a sidecar.
	InboundAddress string
}

// Pod is one replica of a workload, as the local runner (or, later, the
// Kubernetes informers) reports it.
type Pod struct {
	Name           string // reviews-v1-0
	Namespace      string
	Workload       string // the Deployment's name: reviews-v1
	ServiceAccount string
	Labels         map[string]string
	Ports          []PodPort
	// ProxyID is the xDS node ID of the pod's sidecar ("" for none).
	ProxyID string
	// OutboundAddress is where the sidecar accepts the application's
	// outbound traffic in explicit mode (HTTP_PROXY); "" when not used.
	OutboundAddress string
	// AdminAddress is the sidecar's admin endpoint; StatsAddress and
	// HealthAddress are Istio's stats (15090, /stats/prometheus) and
	// health (15021, /healthz/ready) ports.
	AdminAddress  string
	StatsAddress  string
	HealthAddress string
	// IP is the pod's own address in transparent mode (its network
	// namespace's eth0): its TCP is captured into the sidecar, and its
	// ports' InboundAddress are IP:containerPort. Empty in explicit mode.
	IP    string
	Ready bool
}

// Endpoint is one address behind a service port.
type Endpoint struct {
	Address string // IP or hostname
	Port    uint32
	Labels  map[string]string
	Pod     string // pod name; "" for ServiceEntry endpoints
	// Weight is a ServiceEntry endpoint's load balancing weight; 0 is 1.
	Weight uint32
	// Sidecar tells whether a sidecar terminates traffic at this endpoint.
	Sidecar bool
}
