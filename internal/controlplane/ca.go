package controlplane

import (
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	securityapi "istio.io/api/security/v1alpha1"

	"github.com/halyard-mesh/halyard/internal/ca"
)

// CAOptions configure the control plane's certificate authority endpoint:
// Istio's IstioCertificateService over TLS, with a server certificate the
// mesh's CA signs itself.
type CAOptions struct {
	Address   string // e.g. 127.0.0.1:15012 (":0" picks a free port)
	Authority *ca.Authority
	Auth      ca.Authenticator
	// OnIssued, when set, is called with the SPIFFE ID of every workload
	// certificate issued (each is also counted in the control plane's
	// metrics).
	OnIssued func(spiffeID string)
}

// listenCA binds the CA address when a CA is configured.
func (s *Server) listenCA() error {
	if s.opts.CA == nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.opts.CA.Address)
	if err != nil {
		return fmt.Errorf("controlplane: ca listener: %w", err)
	}
	s.caLn = ln
	return nil
}

// CAAddress is the bound CA address (after Listen); empty without a CA.
func (s *Server) CAAddress() string {
	if s.caLn == nil {
		return ""
	}
	return s.caLn.Addr().String()
}

// newCAServer returns the gRPC server of the CA endpoint.
func (s *Server) newCAServer() *grpc.Server {
	o := s.opts.CA
	tlsConf := o.Authority.ServerTLSConfig(caServerHosts(s.caLn.Addr()))
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsConf)))
	onIssued := func(id string) {
		s.Metrics().CertificateIssued()
		if o.OnIssued != nil {
			o.OnIssued(id)
		}
	}
	securityapi.RegisterIstioCertificateServiceServer(srv, ca.NewService(ca.ServiceOptions{
		Authority: o.Authority, Auth: o.Auth, Logger: s.opts.Logger, OnIssued: onIssued,
	}))
	return srv
}

// caServerHosts are the names the CA's certificate is valid for: the bound
// IP, loopback, and Istio's name for istiod.
func caServerHosts(addr net.Addr) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1", "istiod.istio-system.svc"}
	if ta, ok := addr.(*net.TCPAddr); ok && !ta.IP.IsUnspecified() && !ta.IP.IsLoopback() {
		hosts = append(hosts, ta.IP.String())
	}
	return hosts
}
