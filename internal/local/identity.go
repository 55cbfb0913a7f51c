package local

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// SidecarIdentity is what sidecars need to obtain workload certificates
// from the mesh's CA.
type SidecarIdentity struct {
	CAAddress   string // the CA's TLS gRPC address
	RootFile    string // PEM trust bundle the sidecar verifies the CA (and later its peers) with
	TrustDomain string
	// MintToken returns a short-lived bootstrap token bound to the pod's
	// namespace and service account.
	MintToken func(namespace, serviceAccount string) (string, error)
	// TokenRefresh is how often a pod's token file is rewritten with a
	// fresh token; the tokens must live longer than that.
	TokenRefresh time.Duration
}

// podDir holds a pod's private files (its bootstrap token), mode 0700.
func (r *Runner) podDir(p *pod) string {
	return filepath.Join(r.opts.StateDir, "pods", p.spec.Namespace+"."+p.spec.Name)
}

func (r *Runner) tokenFile(p *pod) string { return filepath.Join(r.podDir(p), "token") }

// writeToken mints a token for the pod and writes it, mode 0600, where its
// sidecar reads it (atomically: the sidecar never sees half a token).
func (r *Runner) writeToken(p *pod) error {
	id := r.opts.Identity
	tok, err := id.MintToken(p.spec.Namespace, p.spec.ServiceAccount)
	if err != nil {
		return fmt.Errorf("local: pod %s: %w", p.spec.Name, err)
	}
	if err := os.MkdirAll(r.podDir(p), 0o700); err != nil {
		return fmt.Errorf("local: pod %s: %w", p.spec.Name, err)
	}
	path := r.tokenFile(p)
	if err := os.WriteFile(path+".tmp", []byte(tok), 0o600); err != nil {
		return fmt.Errorf("local: pod %s: token: %w", p.spec.Name, err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("local: pod %s: token: %w", p.spec.Name, err)
	}
	p.tokenAt = r.opts.Now()
	return nil
}

// identityTick is called on every probe tick of a pod with an identity: it
// refreshes the token before it expires, as the kubelet does with
// projected service-account tokens.
func (r *Runner) identityTick(p *pod) {
	if r.opts.Now().Sub(p.tokenAt) < r.opts.Identity.TokenRefresh {
		return
	}
	if err := r.writeToken(p); err != nil {
		r.log.Warn("token refresh failed", "pod", p.spec.Name, "error", err)
	}
}

// sidecarIdentityArgs are the sidecar's flags for obtaining its certificate.
func (r *Runner) sidecarIdentityArgs(p *pod) []string {
	id := r.opts.Identity
	return []string{
		"--ca-address", id.CAAddress,
		"--ca-root-file", id.RootFile,
		"--token-file", r.tokenFile(p),
		"--trust-domain", id.TrustDomain,
	}
}
