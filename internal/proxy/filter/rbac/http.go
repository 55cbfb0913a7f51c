package rbac

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	matcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/halyard-mesh/halyard/internal/proxy/filter"
	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

// Names of the filters and what they publish.
const (
	Name        = "envoy.filters.http.rbac"
	NetworkName = "envoy.filters.network.rbac"
	// DeniedBody is the body of Envoy's 403 for a denied request.
	DeniedBody = "RBAC: access denied"
	// CommonNamespace holds access_log_hint, set when a Log policy
	// matched (Istio's AUDIT).
	CommonNamespace = "envoy.common"

	configType   = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
	perRouteType = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute"
)

func init() {
	filter.Register(&filter.Factory{
		Name:          Name,
		ConfigTypes:   []string{configType},
		PerRouteTypes: []string{perRouteType},
		New:           newHTTPFilter,
		PerRoute:      perRoute,
	})
}

// Config is a compiled HTTP RBAC: the enforced rules and the shadow
// rules, each nil when absent.
type Config struct {
	Rules, Shadow *Engine
}

// CompileHTTP compiles the HTTP filter's config.
func CompileHTTP(pb *rbachttpv3.RBAC) (*Config, error) {
	rules, shadow, err := compileBoth(pb)
	if err != nil {
		return nil, err
	}
	return &Config{Rules: rules, Shadow: shadow}, nil
}

// rbacConfig is what the HTTP and network filters' configs share.
type rbacConfig interface {
	GetRules() *rbacv3.RBAC
	GetShadowRules() *rbacv3.RBAC
	GetMatcher() *matcherv3.Matcher
	GetShadowMatcher() *matcherv3.Matcher
}

// compileBoth compiles a filter config's rules and shadow rules.
func compileBoth(pb rbacConfig) (rules, shadow *Engine, err error) {
	if pb.GetMatcher() != nil || pb.GetShadowMatcher() != nil {
		return nil, nil, errors.New("rbac: matcher and shadow_matcher are not supported (use rules)")
	}
	if rules, err = Compile(pb.GetRules()); err != nil {
		return nil, nil, err
	}
	if shadow, err = Compile(pb.GetShadowRules()); err != nil {
		return nil, nil, fmt.Errorf("shadow_rules: %w", err)
	}
	return rules, shadow, nil
}

func parseHTTP(a *anypb.Any) (*Config, error) {
	pb := &rbachttpv3.RBAC{}
	if a != nil {
		if err := a.UnmarshalTo(pb); err != nil {
			return nil, fmt.Errorf("rbac: %w", err)
		}
	}
	return CompileHTTP(pb)
}

func perRoute(a *anypb.Any) (any, error) {
	pb := &rbachttpv3.RBACPerRoute{}
	if err := a.UnmarshalTo(pb); err != nil {
		return nil, fmt.Errorf("rbac: %w", err)
	}
	if pb.GetRbac() == nil {
		// Envoy: a per-route config without rbac disables the filter there.
		return filter.Disabled, nil
	}
	return CompileHTTP(pb.GetRbac())
}

// Stats counts the filter's decisions (Envoy's rbac.allowed, rbac.denied,
// rbac.shadow_allowed, rbac.shadow_denied; Log counts as allowed).
type Stats struct {
	Allowed, Denied, ShadowAllowed, ShadowDenied, Logged atomic.Int64
}

// HTTPFilter is one HCM's rbac filter.
type HTTPFilter struct {
	cfg   *Config
	slot  int
	Stats Stats
}

var _ hcm.Filter = (*HTTPFilter)(nil)

func newHTTPFilter(a *anypb.Any, slot int) (hcm.Filter, error) {
	cfg, err := parseHTTP(a)
	if err != nil {
		return nil, err
	}
	return &HTTPFilter{cfg: cfg, slot: slot}, nil
}

var requests = sync.Pool{New: func() any { return new(Request) }}

// OnRequest evaluates the shadow rules (counted, and published as Envoy's
// shadow_effective_policy_id / shadow_engine_result metadata), then the
// rules: a denied request gets 403 "RBAC: access denied" with flag RBAC.
func (f *HTTPFilter) OnRequest(x *hcm.Exchange) bool {
	cfg := f.cfg
	if v := x.PerRoute(f.slot); v != nil {
		if v == filter.Disabled {
			return true
		}
		cfg = v.(*Config)
	}
	if cfg.Rules == nil && cfg.Shadow == nil {
		return true
	}
	r := requests.Get().(*Request)
	defer func() { *r = Request{}; requests.Put(r) }()
	fillRequest(r, x)
	if cfg.Shadow != nil {
		f.shadow(x, cfg.Shadow, r)
	}
	ok, name := cfg.Rules.Allowed(r)
	switch {
	case cfg.Rules == nil:
	case cfg.Rules.Action() == Log:
		f.Stats.Logged.Add(1)
		x.SetMetadata(CommonNamespace, &structpb.Struct{Fields: map[string]*structpb.Value{
			"access_log_hint": structpb.NewBoolValue(name != "")}})
	case ok:
		f.Stats.Allowed.Add(1)
	default:
		f.Stats.Denied.Add(1)
		details := "rbac_access_denied_matched_policy[none]"
		if name != "" {
			details = "rbac_access_denied_matched_policy[" + name + "]"
		}
		x.SendLocalReply(http.StatusForbidden, hcm.RBACAccessDenied, details, DeniedBody)
		return false
	}
	return true
}

func (f *HTTPFilter) shadow(x *hcm.Exchange, e *Engine, r *Request) {
	ok, name := e.Allowed(r)
	result := "allowed"
	if ok {
		f.Stats.ShadowAllowed.Add(1)
	} else {
		f.Stats.ShadowDenied.Add(1)
		result = "denied"
	}
	fields := map[string]*structpb.Value{"shadow_engine_result": structpb.NewStringValue(result)}
	if name != "" {
		fields["shadow_effective_policy_id"] = structpb.NewStringValue(name)
	}
	x.SetMetadata(Name, &structpb.Struct{Fields: fields})
}

// OnResponse does nothing.
func (f *HTTPFilter) OnResponse(*hcm.Exchange, int, http.Header) {}

// fillRequest reads what the matchers need from an exchange: the peer
// (RemoteAddr, direct_remote_ip), the client as the HCM determined it
// (remote_ip: from X-Forwarded-For as Envoy does, else the peer), the
// connection's destination, its mutual TLS.
func fillRequest(r *Request, x *hcm.Exchange) {
	r.HTTP, r.Metadata = x.Request, x
	r.Source, r.Remote = x.Info.Peer, x.Info.Remote.Addr()
	ctx := x.Request.Context()
	r.Dest, _ = hcm.ConnDestination(ctx)
	r.Principal, r.Authenticated = x.Info.PeerPrincipal, x.Info.MutualTLS
	if s := hcm.ConnSecurityFrom(ctx); s != nil {
		r.SNI = s.ServerName()
	}
}
