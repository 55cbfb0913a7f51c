package identity

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

// CAClient asks the mesh's CA to sign CSRs over TLS, proving the identity
// with the bootstrap token read from a file.
type CAClient struct {
	opts CAClientOptions
}

// CAClientOptions configure a CAClient.
type CAClientOptions struct {
	Address   string // host:port of the CA
	TokenFile string // bearer token, re-read for every request (it is refreshed)
	// Roots returns the trust bundle the CA's certificate must chain to.
	Roots func() (*x509.CertPool, error)
	// ServerName is checked against the CA's certificate; the host of
	// Address by default.
	ServerName string
	// TTL is the lifetime asked for; 0 leaves it to the CA.
	TTL time.Duration
	// Timeout bounds one request (10s by default).
	Timeout time.Duration
}

// NewCAClient returns a client; it connects on each Sign (certificates are
// renewed rarely, and a fresh connection always uses the current bundle).
func NewCAClient(o CAClientOptions) *CAClient {
	if o.ServerName == "" {
		o.ServerName, _, _ = net.SplitHostPort(o.Address)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	return &CAClient{opts: o}
}

// Sign sends a PEM CSR and returns the PEM chain: workload certificate,
// intermediates, root.
func (c *CAClient) Sign(ctx context.Context, csrPEM []byte) ([]string, error) {
	tok, err := os.ReadFile(c.opts.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("identity: token: %w", err)
	}
	roots, err := c.opts.Roots()
	if err != nil {
		return nil, err
	}
	creds := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, ServerName: c.opts.ServerName})
	conn, err := grpc.NewClient(c.opts.Address, grpc.WithTransportCredentials(creds), grpc.WithNoProxy())
	if err != nil {
		return nil, fmt.Errorf("identity: ca %s: %w", c.opts.Address, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+strings.TrimSpace(string(tok)))
	req := &certRequest{CSR: string(csrPEM), ValidityDuration: int64(c.opts.TTL / time.Second)}
	var resp certResponse
	if err := conn.Invoke(ctx, createCertificateMethod, req, &resp, grpc.ForceCodec(wireCodec{})); err != nil {
		return nil, fmt.Errorf("identity: ca %s: %w", c.opts.Address, err)
	}
	return resp.CertChain, nil
}
