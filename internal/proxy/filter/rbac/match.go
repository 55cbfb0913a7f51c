package rbac

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
	"github.com/halyard-mesh/halyard/internal/proxy/xdsconv"
)

// matcher is one node of a compiled permission or principal.
type matcher interface{ match(r *Request) bool }

type (
	anyM  struct{}
	andM  []matcher
	orM   []matcher
	notM  struct{ m matcher }
	portM uint32
	// portRangeM is [lo, hi).
	portRangeM struct{ lo, hi uint32 }
	headerM    struct{ h *router.HeaderMatcher }
	// pathM matches the request's path without its query (url_path).
	pathM struct{ s *router.StringMatcher }
	// authM matches an authenticated peer; s nil matches any.
	authM struct{ s *router.StringMatcher }
	sniM  struct{ s *router.StringMatcher }
	// cidrM matches one of the request's addresses.
	cidrM struct {
		p   netip.Prefix
		src addrSource
	}
)

type addrSource uint8

const (
	addrDirect addrSource = iota // direct_remote_ip, source_ip
	addrRemote                   // remote_ip
	addrDest                     // destination_ip
)

func (anyM) match(*Request) bool { return true }

func (m andM) match(r *Request) bool {
	for _, x := range m {
		if !x.match(r) {
			return false
		}
	}
	return true
}

func (m orM) match(r *Request) bool {
	for _, x := range m {
		if x.match(r) {
			return true
		}
	}
	return false
}

func (m notM) match(r *Request) bool  { return !m.m.match(r) }
func (m portM) match(r *Request) bool { return r.Dest.IsValid() && uint32(r.Dest.Port()) == uint32(m) }
func (m portRangeM) match(r *Request) bool {
	p := uint32(r.Dest.Port())
	return r.Dest.IsValid() && p >= m.lo && p < m.hi
}
func (m headerM) match(r *Request) bool { return r.HTTP != nil && m.h.Match(r.HTTP) }
func (m pathM) match(r *Request) bool {
	return r.HTTP != nil && m.s.Match(normalizePath(r.HTTP.URL.Path))
}

// normalizePath removes dot segments, as Envoy's normalize_path (which
// Istio turns on) does before the rbac filter sees the path, so that
// /public/../admin is matched as /admin. Paths without them are returned
// as they are, without allocating.
func normalizePath(p string) string {
	if !strings.Contains(p, "/.") {
		return p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}
func (m authM) match(r *Request) bool {
	return r.Authenticated && (m.s == nil || m.s.Match(r.Principal))
}
func (m sniM) match(r *Request) bool { return m.s.Match(r.SNI) }

func (m cidrM) match(r *Request) bool {
	var a netip.Addr
	switch m.src {
	case addrDirect:
		a = r.Source.Addr()
	case addrRemote:
		a = r.Remote
	default:
		a = r.Dest.Addr()
	}
	return a.IsValid() && m.p.Contains(a.Unmap())
}

// simplify drops a one-element and/or.
func simplify(m matcher) matcher {
	switch x := m.(type) {
	case orM:
		if len(x) == 1 {
			return x[0]
		}
	case andM:
		if len(x) == 1 {
			return x[0]
		}
	}
	return m
}

func compilePermission(pb *rbacv3.Permission) (matcher, error) {
	switch r := pb.GetRule().(type) {
	case *rbacv3.Permission_Any:
		return anyM{}, nil
	case *rbacv3.Permission_AndRules:
		return compileSet(r.AndRules.GetRules(), compilePermission, true)
	case *rbacv3.Permission_OrRules:
		return compileSet(r.OrRules.GetRules(), compilePermission, false)
	case *rbacv3.Permission_NotRule:
		m, err := compilePermission(r.NotRule)
		if err != nil {
			return nil, fmt.Errorf("not_rule: %w", err)
		}
		return notM{m}, nil
	case *rbacv3.Permission_Header:
		return compileHeader(r.Header)
	case *rbacv3.Permission_UrlPath:
		return compilePath(r.UrlPath)
	case *rbacv3.Permission_DestinationIp:
		return compileCIDR(r.DestinationIp, addrDest)
	case *rbacv3.Permission_DestinationPort:
		if r.DestinationPort > 65535 {
			return nil, fmt.Errorf("destination_port %d out of range", r.DestinationPort)
		}
		return portM(r.DestinationPort), nil
	case *rbacv3.Permission_DestinationPortRange:
		return portRangeM{lo: uint32(r.DestinationPortRange.GetStart()), hi: uint32(r.DestinationPortRange.GetEnd())}, nil
	case *rbacv3.Permission_Metadata:
		return compileMetadata(r.Metadata)
	case *rbacv3.Permission_RequestedServerName:
		s, err := compileString(r.RequestedServerName)
		if err != nil {
			return nil, fmt.Errorf("requested_server_name: %w", err)
		}
		return sniM{s}, nil
	case nil:
		return nil, errors.New("permission without a rule")
	default:
		return nil, fmt.Errorf("unsupported permission %T", r)
	}
}

func compilePrincipal(pb *rbacv3.Principal) (matcher, error) {
	switch id := pb.GetIdentifier().(type) {
	case *rbacv3.Principal_Any:
		return anyM{}, nil
	case *rbacv3.Principal_AndIds:
		return compileSet(id.AndIds.GetIds(), compilePrincipal, true)
	case *rbacv3.Principal_OrIds:
		return compileSet(id.OrIds.GetIds(), compilePrincipal, false)
	case *rbacv3.Principal_NotId:
		m, err := compilePrincipal(id.NotId)
		if err != nil {
			return nil, fmt.Errorf("not_id: %w", err)
		}
		return notM{m}, nil
	case *rbacv3.Principal_Authenticated_:
		pn := id.Authenticated.GetPrincipalName()
		if pn == nil {
			return authM{}, nil
		}
		s, err := compileString(pn)
		if err != nil {
			return nil, fmt.Errorf("authenticated: %w", err)
		}
		return authM{s}, nil
	case *rbacv3.Principal_SourceIp:
		return compileCIDR(id.SourceIp, addrDirect)
	case *rbacv3.Principal_DirectRemoteIp:
		return compileCIDR(id.DirectRemoteIp, addrDirect)
	case *rbacv3.Principal_RemoteIp:
		return compileCIDR(id.RemoteIp, addrRemote)
	case *rbacv3.Principal_Header:
		return compileHeader(id.Header)
	case *rbacv3.Principal_UrlPath:
		return compilePath(id.UrlPath)
	case *rbacv3.Principal_Metadata:
		return compileMetadata(id.Metadata)
	case nil:
		return nil, errors.New("principal without an identifier")
	default:
		return nil, fmt.Errorf("unsupported principal %T", id)
	}
}

// compileSet compiles and_rules/or_rules (and_ids/or_ids). An empty set
// is an error, as in Envoy's validation.
func compileSet[T any](items []T, compile func(T) (matcher, error), and bool) (matcher, error) {
	if len(items) == 0 {
		return nil, errors.New("empty rule set")
	}
	out := make([]matcher, 0, len(items))
	for i, it := range items {
		m, err := compile(it)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out = append(out, m)
	}
	if and {
		return simplify(andM(out)), nil
	}
	return simplify(orM(out)), nil
}

func compileString(pb *matcherv3.StringMatcher) (*router.StringMatcher, error) {
	sm, err := xdsconv.StringMatch(pb)
	if err != nil {
		return nil, err
	}
	return router.NewStringMatcher(sm)
}

func compileHeader(pb *routev3.HeaderMatcher) (matcher, error) {
	hm, err := xdsconv.HeaderMatch(pb)
	if err != nil {
		return nil, err
	}
	h, err := router.NewHeaderMatcher(hm)
	if err != nil {
		return nil, err
	}
	return headerM{h}, nil
}

func compilePath(pb *matcherv3.PathMatcher) (matcher, error) {
	if pb.GetPath() == nil {
		return nil, errors.New("url_path: only path is supported")
	}
	s, err := compileString(pb.GetPath())
	if err != nil {
		return nil, fmt.Errorf("url_path: %w", err)
	}
	return pathM{s}, nil
}

func compileCIDR(pb *corev3.CidrRange, src addrSource) (matcher, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(pb.GetAddressPrefix()))
	if err != nil {
		return nil, fmt.Errorf("cidr %q: %w", pb.GetAddressPrefix(), err)
	}
	// Envoy: an unset prefix_len is 0 (the whole address family).
	bits := int(pb.GetPrefixLen().GetValue())
	p, err := a.Unmap().Prefix(bits)
	if err != nil {
		return nil, fmt.Errorf("cidr %s/%d: %w", pb.GetAddressPrefix(), bits, err)
	}
	return cidrM{p: p, src: src}, nil
}
