package localmesh

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/halyard-mesh/halyard/internal/ca"
	"github.com/halyard-mesh/halyard/internal/controlplane"
	"github.com/halyard-mesh/halyard/internal/local"
)

// Bootstrap tokens live an hour; the runner rewrites them every half hour.
const tokenTTL = time.Hour

// trustBundleFile is the trust bundle sidecars read, in the state dir.
const trustBundleFile = "trust-bundle.pem"

// meshCA is the CA of a local mesh and what sidecars need to use it.
type meshCA struct {
	authority  *ca.Authority
	tokens     *ca.Tokens
	bundlePath string
	onIssued   func(string)
}

// newMeshCA loads the plugged-in CA (CACertsDir) or the self-signed one in
// the state dir (creating it on first start), and publishes its trust
// bundle for the sidecars.
func newMeshCA(o Options) (*meshCA, error) {
	co := ca.Options{TrustDomain: o.TrustDomain, WorkloadTTL: o.WorkloadCertTTL}
	var auth *ca.Authority
	var err error
	if o.CACertsDir != "" {
		auth, err = ca.LoadPlugged(o.CACertsDir, co)
	} else {
		auth, err = ca.LoadOrCreate(filepath.Join(o.StateDir, "ca"), co)
	}
	if err != nil {
		return nil, fmt.Errorf("up: %w", err)
	}
	tokens, err := ca.NewTokens(nil)
	if err != nil {
		return nil, fmt.Errorf("up: %w", err)
	}
	bundle := filepath.Join(o.StateDir, trustBundleFile)
	if err := os.WriteFile(bundle, auth.RootsPEM(), 0o644); err != nil {
		return nil, fmt.Errorf("up: trust bundle: %w", err)
	}
	return &meshCA{authority: auth, tokens: tokens, bundlePath: bundle, onIssued: o.OnCertIssued}, nil
}

func (c *meshCA) controlPlaneOptions(address string) *controlplane.CAOptions {
	return &controlplane.CAOptions{Address: address, Authority: c.authority, Auth: c.tokens, OnIssued: c.onIssued}
}

func (c *meshCA) sidecarIdentity(caAddress string) *local.SidecarIdentity {
	return &local.SidecarIdentity{
		CAAddress: caAddress, RootFile: c.bundlePath, TrustDomain: c.authority.TrustDomain(),
		MintToken:    func(ns, sa string) (string, error) { return c.tokens.Mint(ns, sa, tokenTTL) },
		TokenRefresh: tokenTTL / 2,
	}
}

// caSource says where the CA's signing key comes from.
func caSource(o Options) string {
	if o.CACertsDir != "" {
		return "plugged-in CA from " + o.CACertsDir
	}
	return "self-signed root in " + filepath.Join(o.StateDir, "ca")
}
