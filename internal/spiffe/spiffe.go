// Package spiffe names workload identities the way Istio does:
// spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>. It uses only
// the standard library, so both the control plane (the CA) and the data
// plane (the sidecar's identity) import it.
package spiffe

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// DefaultTrustDomain is Istio's default trust domain.
const DefaultTrustDomain = "cluster.local"

// ID is a workload identity.
type ID struct {
	TrustDomain    string
	Namespace      string
	ServiceAccount string
}

// String returns the ID as a SPIFFE URI.
func (id ID) String() string {
	return "spiffe://" + id.TrustDomain + "/ns/" + id.Namespace + "/sa/" + id.ServiceAccount
}

// URL returns the ID as a URL, for a certificate's URI SAN.
func (id ID) URL() *url.URL {
	return &url.URL{Scheme: "spiffe", Host: id.TrustDomain, Path: "/ns/" + id.Namespace + "/sa/" + id.ServiceAccount}
}

// Validate reports an empty or malformed part.
func (id ID) Validate() error {
	for _, p := range []struct{ name, v string }{
		{"trust domain", id.TrustDomain}, {"namespace", id.Namespace}, {"service account", id.ServiceAccount},
	} {
		if p.v == "" {
			return fmt.Errorf("spiffe: empty %s", p.name)
		}
		if strings.ContainsAny(p.v, "/?#%@: \t\n") {
			return fmt.Errorf("spiffe: %s %q has a character not allowed in a SPIFFE ID", p.name, p.v)
		}
	}
	return nil
}

// Parse parses a workload ID of the form
// spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>.
func Parse(s string) (ID, error) {
	rest, ok := strings.CutPrefix(s, "spiffe://")
	if !ok {
		return ID{}, fmt.Errorf("spiffe: %q: want the scheme spiffe://", s)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 5 || parts[1] != "ns" || parts[3] != "sa" {
		return ID{}, fmt.Errorf("spiffe: %q: want spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>", s)
	}
	id := ID{TrustDomain: parts[0], Namespace: parts[2], ServiceAccount: parts[4]}
	if err := id.Validate(); err != nil {
		return ID{}, fmt.Errorf("spiffe: %q: %w", s, err)
	}
	return id, nil
}

// ErrNoID means a certificate carries no spiffe:// URI SAN.
var ErrNoID = errors.New("spiffe: certificate has no spiffe:// URI SAN")

// FromCertificate returns the one spiffe:// URI SAN of a certificate.
func FromCertificate(cert *x509.Certificate) (string, error) {
	var found string
	for _, u := range cert.URIs {
		if u.Scheme != "spiffe" {
			continue
		}
		if found != "" {
			return "", fmt.Errorf("spiffe: certificate has more than one spiffe:// URI SAN (%s, %s)", found, u)
		}
		found = u.String()
	}
	if found == "" {
		return "", ErrNoID
	}
	return found, nil
}
