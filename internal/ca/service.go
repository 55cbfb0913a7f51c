package ca

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	securityapi "istio.io/api/security/v1alpha1"

	"github.com/halyard-mesh/halyard/internal/spiffe"
)

// Authenticator checks the bearer token of a CSR and says which identity
// the caller has proven.
type Authenticator interface {
	Authenticate(token string) (namespace, serviceAccount string, err error)
}

// ServiceOptions configure a Service.
type ServiceOptions struct {
	Authority *Authority
	Auth      Authenticator
	Logger    *slog.Logger
	// OnIssued, when set, is called with the SPIFFE ID of every certificate
	// issued (a metrics counter).
	OnIssued func(spiffeID string)
}

// Service is Istio's IstioCertificateService (CreateCertificate) on top of
// an Authority.
type Service struct {
	securityapi.UnimplementedIstioCertificateServiceServer
	opts ServiceOptions
	log  *slog.Logger
}

var _ securityapi.IstioCertificateServiceServer = (*Service)(nil)

// NewService returns the CSR service.
func NewService(o ServiceOptions) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{opts: o, log: o.Logger.With("component", "ca")}
}

// CreateCertificate signs the CSR if the caller's bearer token proves the
// identity it asks for.
func (s *Service) CreateCertificate(ctx context.Context, req *securityapi.IstioCertificateRequest) (*securityapi.IstioCertificateResponse, error) {
	caller := callerAddr(ctx)
	token, err := bearerToken(ctx)
	if err == nil && s.opts.Auth == nil {
		err = errNoAuthenticator
	}
	if err != nil {
		s.log.Warn("certificate refused", "peer", caller, "error", err)
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	ns, sa, err := s.opts.Auth.Authenticate(token)
	if err != nil {
		s.log.Warn("certificate refused", "peer", caller, "error", err)
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	id := spiffe.ID{TrustDomain: s.opts.Authority.TrustDomain(), Namespace: ns, ServiceAccount: sa}
	ttl := time.Duration(req.GetValidityDuration()) * time.Second
	chain, err := s.opts.Authority.Sign([]byte(req.GetCsr()), id, ttl)
	if err != nil {
		s.log.Warn("certificate refused", "peer", caller, "identity", id.String(), "error", err)
		return nil, status.Error(signErrorCode(err), err.Error())
	}
	s.log.Debug("certificate issued", "identity", id.String(), "serial", chain[0].SerialNumber.Text(16), "expires", chain[0].NotAfter)
	if s.opts.OnIssued != nil {
		s.opts.OnIssued(id.String())
	}
	return &securityapi.IstioCertificateResponse{CertChain: EncodeChain(chain)}, nil
}

func signErrorCode(err error) codes.Code {
	switch {
	case errors.Is(err, ErrIdentityMismatch):
		return codes.PermissionDenied
	case errors.Is(err, ErrBadCSR):
		return codes.InvalidArgument
	}
	return codes.Internal
}

var errNoAuthenticator = errors.New("ca: no authenticator configured: every request is refused")

var errNoToken = errors.New("ca: no bearer token (want metadata authorization: Bearer <token>)")

func bearerToken(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if tok, ok := strings.CutPrefix(v, "Bearer "); ok && tok != "" {
			return tok, nil
		}
	}
	return "", errNoToken
}

func callerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}
