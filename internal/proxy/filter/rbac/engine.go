// Package rbac is Envoy's role-based access control: the HTTP filter
// envoy.filters.http.rbac and the network filter envoy.filters.network.rbac
// (Istio's AuthorizationPolicy). An RBAC config (envoy.config.rbac.v3) is
// compiled once, when the listener's configuration arrives, into a tree of
// matchers over a Request; a request walks the tree without maps,
// reflection or allocation.
package rbac

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// Action is what an engine does with the requests its policies match.
type Action int

// Actions, as Envoy's RBAC.Action.
const (
	// Allow lets matched requests through and denies the others.
	Allow Action = iota
	// Deny denies matched requests and lets the others through.
	Deny
	// Log lets every request through and marks the matched ones for the
	// access log (Istio's AUDIT).
	Log
)

// MetadataSource gives the dynamic metadata earlier filters published
// (hcm.Exchange implements it).
type MetadataSource interface {
	Metadata(namespace string) *structpb.Struct
}

// Request is what the matchers read of a request or a connection.
type Request struct {
	// HTTP is the request; nil for a TCP connection (header and path
	// matchers never match then).
	HTTP *http.Request
	// Source is the downstream peer's address (direct_remote_ip,
	// source_ip); Remote the original client's (remote_ip): for HTTP the
	// HCM's trusted client address (the last X-Forwarded-For address on
	// a sidecar, as Envoy), for TCP the peer's.
	Source netip.AddrPort
	Remote netip.Addr
	// Dest is the connection's destination: its original destination
	// when captured, else the address it was accepted on.
	Dest netip.AddrPort
	// Principal is the peer's SPIFFE ID when Authenticated (mutual TLS).
	Principal     string
	Authenticated bool
	// SNI is the server name of the client's TLS handshake.
	SNI string
	// Metadata is the request's dynamic metadata; nil for connections.
	Metadata MetadataSource
}

// Engine is a compiled RBAC: an action and its policies, sorted by name.
type Engine struct {
	action   Action
	policies []policy
}

type policy struct {
	name        string
	permissions matcher // any of the permissions
	principals  matcher // any of the principals
}

// Compile compiles an RBAC config. A nil config gives a nil Engine, which
// allows everything (Envoy: RBAC without rules). Parts the proxy does not
// implement are errors rather than ignored, so a policy never matches
// other requests than configured.
func Compile(pb *rbacv3.RBAC) (*Engine, error) {
	if pb == nil {
		return nil, nil
	}
	e := &Engine{}
	switch pb.GetAction() {
	case rbacv3.RBAC_ALLOW:
		e.action = Allow
	case rbacv3.RBAC_DENY:
		e.action = Deny
	case rbacv3.RBAC_LOG:
		e.action = Log
	default:
		return nil, fmt.Errorf("rbac: unsupported action %v", pb.GetAction())
	}
	if pb.GetAuditLoggingOptions() != nil {
		return nil, errors.New("rbac: audit_logging_options is not supported")
	}
	names := make([]string, 0, len(pb.GetPolicies()))
	for name := range pb.GetPolicies() {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p, err := compilePolicy(pb.GetPolicies()[name])
		if err != nil {
			return nil, fmt.Errorf("rbac: policy %q: %w", name, err)
		}
		p.name = name
		e.policies = append(e.policies, p)
	}
	return e, nil
}

func compilePolicy(pb *rbacv3.Policy) (policy, error) {
	var p policy
	if pb.GetCondition() != nil || pb.GetCheckedCondition() != nil {
		return p, errors.New("condition (CEL) is not supported")
	}
	if len(pb.GetPermissions()) == 0 || len(pb.GetPrincipals()) == 0 {
		return p, errors.New("a policy needs permissions and principals")
	}
	perms := make(orM, 0, len(pb.GetPermissions()))
	for i, pm := range pb.GetPermissions() {
		m, err := compilePermission(pm)
		if err != nil {
			return p, fmt.Errorf("permissions[%d]: %w", i, err)
		}
		perms = append(perms, m)
	}
	prins := make(orM, 0, len(pb.GetPrincipals()))
	for i, pr := range pb.GetPrincipals() {
		m, err := compilePrincipal(pr)
		if err != nil {
			return p, fmt.Errorf("principals[%d]: %w", i, err)
		}
		prins = append(prins, m)
	}
	p.permissions, p.principals = simplify(perms), simplify(prins)
	return p, nil
}

// Action returns the engine's action.
func (e *Engine) Action() Action { return e.action }

// Match returns the name of the first policy (by name) that matches the
// request, and whether one did.
func (e *Engine) Match(r *Request) (string, bool) {
	for i := range e.policies {
		p := &e.policies[i]
		if p.permissions.match(r) && p.principals.match(r) {
			return p.name, true
		}
	}
	return "", false
}

// Allowed applies the engine's action: Allow lets matched requests
// through, Deny the others, Log every request. It also returns the
// matched policy ("" when none matched).
func (e *Engine) Allowed(r *Request) (bool, string) {
	if e == nil {
		return true, ""
	}
	name, ok := e.Match(r)
	switch e.action {
	case Allow:
		return ok, name
	case Deny:
		return !ok, name
	}
	return true, name
}
