package rbac

import (
	"errors"
	"fmt"

	rbacnetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/listener"
)

// NetworkConfigType is the typed_config of envoy.filters.network.rbac.
const NetworkConfigType = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC"

// NetworkFilter is envoy.filters.network.rbac before a tcp_proxy: it
// decides once per connection (ONE_TIME_ON_FIRST_BYTE is treated as
// decided at once: the proxy has nothing to wait for). Header, path and
// metadata matchers never match a connection.
type NetworkFilter struct {
	rules, shadow *Engine
	Stats         Stats
}

var _ listener.ConnFilter = (*NetworkFilter)(nil)

// NewNetwork compiles a network RBAC typed_config.
func NewNetwork(a *anypb.Any) (*NetworkFilter, error) {
	pb := &rbacnetv3.RBAC{}
	if a == nil {
		return nil, errors.New("rbac: network filter without typed_config")
	}
	if err := a.UnmarshalTo(pb); err != nil {
		return nil, fmt.Errorf("rbac: %w", err)
	}
	if pb.GetMatcher() != nil || pb.GetShadowMatcher() != nil {
		return nil, errors.New("rbac: matcher and shadow_matcher are not supported (use rules)")
	}
	if pb.GetDelayDeny() != nil {
		return nil, errors.New("rbac: delay_deny is not supported")
	}
	rules, err := Compile(pb.GetRules())
	if err != nil {
		return nil, err
	}
	shadow, err := Compile(pb.GetShadowRules())
	if err != nil {
		return nil, fmt.Errorf("shadow_rules: %w", err)
	}
	return &NetworkFilter{rules: rules, shadow: shadow}, nil
}

// OnConnection implements listener.ConnFilter.
func (f *NetworkFilter) OnConnection(c *listener.ConnInfo) (bool, hcm.Flags, string) {
	r := Request{Source: c.Source, Remote: c.Source.Addr(), Dest: c.Dest,
		Principal: c.Principal, Authenticated: c.Principal != "", SNI: c.SNI}
	if f.shadow != nil {
		if ok, _ := f.shadow.Allowed(&r); ok {
			f.Stats.ShadowAllowed.Add(1)
		} else {
			f.Stats.ShadowDenied.Add(1)
		}
	}
	ok, name := f.rules.Allowed(&r)
	switch {
	case f.rules == nil:
	case f.rules.Action() == Log:
		f.Stats.Logged.Add(1)
	case ok:
		f.Stats.Allowed.Add(1)
	default:
		f.Stats.Denied.Add(1)
		if name == "" {
			name = "none"
		}
		return false, hcm.RBACAccessDenied, "rbac_access_denied_matched_policy[" + name + "]"
	}
	return true, 0, ""
}
