package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/halyard-mesh/halyard/internal/proxy/identity"
	"github.com/halyard-mesh/halyard/internal/proxy/sidecar"
	"github.com/halyard-mesh/halyard/internal/spiffe"
)

// identityFlags are the flags for obtaining a workload certificate.
type identityFlags struct {
	caAddress, rootFile, tokenFile, trustDomain *string
}

func addIdentityFlags(fs *flag.FlagSet) identityFlags {
	return identityFlags{
		caAddress:   fs.String("ca-address", "", "address of the mesh's CA (IstioCertificateService over TLS); empty: no workload certificate"),
		rootFile:    fs.String("ca-root-file", "", "PEM trust bundle: the CA's certificate and peers' certificates must chain to one of its roots"),
		tokenFile:   fs.String("token-file", "", "file with the bootstrap token proving the pod's identity to the CA (re-read at every renewal)"),
		trustDomain: fs.String("trust-domain", spiffe.DefaultTrustDomain, "trust domain of the workload's SPIFFE ID"),
	}
}

// newIdentity returns the workload identity manager, or nil when no CA is
// configured. The SPIFFE ID comes from the NAMESPACE and SERVICE_ACCOUNT
// node metadata.
func newIdentity(f identityFlags, md metadataFlag, log *slog.Logger) (*identity.Manager, error) {
	if *f.caAddress == "" {
		return nil, nil
	}
	if *f.rootFile == "" || *f.tokenFile == "" {
		return nil, errors.New("--ca-address needs --ca-root-file and --token-file")
	}
	id := spiffe.ID{TrustDomain: *f.trustDomain, Namespace: md["NAMESPACE"], ServiceAccount: md["SERVICE_ACCOUNT"]}
	if err := id.Validate(); err != nil {
		return nil, fmt.Errorf("identity (from --trust-domain and --metadata NAMESPACE=, SERVICE_ACCOUNT=): %w", err)
	}
	bundle := identity.FileBundle(*f.rootFile)
	client := identity.NewCAClient(identity.CAClientOptions{
		Address: *f.caAddress, TokenFile: *f.tokenFile, Roots: identity.PoolFrom(bundle),
	})
	return identity.New(identity.Options{ID: id.String(), Signer: client, Bundle: bundle, Log: log}), nil
}

// withCerts adds GET /certs (the current certificates, as Envoy's admin
// /certs shows them) to the admin handler.
func withCerts(h http.Handler, id *identity.Manager) http.Handler {
	if id == nil {
		return h
	}
	mux := http.NewServeMux()
	mux.Handle("GET /certs", id.CertsHandler())
	mux.Handle("/", h)
	return mux
}

// readyProxy is the sidecar as the readiness endpoints see it: ready, as
// Envoy is, once its first configuration is applied and, with a workload
// identity, its first certificate is there (Envoy's listeners wait for
// their SDS secrets before the server goes LIVE), so that a pod is not
// sent mutual-TLS traffic it cannot yet terminate.
type readyProxy struct {
	*sidecar.Proxy
	id *identity.Manager
}

func (r readyProxy) Ready() bool { return r.Proxy.Ready() && (r.id == nil || r.id.Ready()) }
