// Package filter is the registry of the proxy's HTTP filters. Each filter
// lives in its own package (filter/fault, filter/cors; the router, which is
// the HCM itself, in router.go here) and registers a Factory from its init
// function: its name, the config types it accepts in an HCM's http_filters
// and in typed_per_filter_config, and how to build both. The compiler
// (internal/proxy/compile) looks filters up by the typed_config's type URL,
// else by name; nothing in the proxy switches over filter names.
//
// Every registered filter gets a slot: its per-route configs are stored in
// the compiled routes at that index (router.Route.FilterConfig), so a
// filter finds its config in O(1) per request.
//
// Import filter/builtin to link the standard filters.
package filter

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

// Factory describes one kind of HTTP filter.
type Factory struct {
	// Name is the filter's canonical name ("envoy.filters.http.fault").
	Name string
	// ConfigTypes are the type URLs of the typed_config accepted in an
	// HCM's http_filters.
	ConfigTypes []string
	// PerRouteTypes are the type URLs accepted in typed_per_filter_config.
	PerRouteTypes []string
	// Terminal marks the router filter: it must come last and New is not
	// called (the HCM routes by itself).
	Terminal bool
	// New builds the filter of one HCM from its typed_config (nil when the
	// HCM gives none). slot is the filter's slot for PerRoute configs.
	New func(cfg *anypb.Any, slot int) (hcm.Filter, error)
	// PerRoute compiles a typed_per_filter_config entry; its result is
	// what the filter finds with hcm.Exchange.PerRoute(slot).
	PerRoute func(cfg *anypb.Any) (any, error)
}

// Entry is a registered Factory.
type Entry struct {
	*Factory
	slot int
}

// Slot is the filter's index in routes' per-filter configs.
func (e *Entry) Slot() int { return e.slot }

var (
	mu     sync.RWMutex
	byName = map[string]*Entry{}
	byType = map[string]*Entry{}
	// byPerRouteType maps per-route config types to their filter.
	byPerRouteType = map[string]*Entry{}
	entries        []*Entry
)

// Register adds a filter kind. It panics on a duplicate name or type URL:
// registration happens in init functions.
func Register(f *Factory) {
	mu.Lock()
	defer mu.Unlock()
	if f.Name == "" || (!f.Terminal && f.New == nil) {
		panic("filter: Register: a factory needs a name and New")
	}
	if _, dup := byName[f.Name]; dup {
		panic("filter: Register: duplicate filter " + f.Name)
	}
	e := &Entry{Factory: f, slot: len(entries)}
	entries = append(entries, e)
	byName[f.Name] = e
	for _, t := range f.ConfigTypes {
		if _, dup := byType[t]; dup {
			panic("filter: Register: duplicate config type " + t)
		}
		byType[t] = e
	}
	for _, t := range f.PerRouteTypes {
		if _, dup := byPerRouteType[t]; dup {
			panic("filter: Register: duplicate per-route type " + t)
		}
		byPerRouteType[t] = e
	}
}

// Lookup finds the filter for an http_filters entry: by the typed_config's
// type URL (as Envoy resolves extensions), else by name. nil when unknown.
func Lookup(name, typeURL string) *Entry {
	mu.RLock()
	defer mu.RUnlock()
	if e, ok := byType[typeURL]; ok && typeURL != "" {
		return e
	}
	return byName[name]
}

// Names returns the registered filter names, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(byName))
	for n := range byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Slots returns the number of slots (registered filters).
func Slots() int {
	mu.RLock()
	defer mu.RUnlock()
	return len(entries)
}

// disabled is the per-route config of a filter disabled on a route.
type disabled struct{}

// Disabled is what a filter finds as its per-route config when the route
// disables it (a FilterConfig with disabled: true).
var Disabled any = &disabled{}

const filterConfigType = "type.googleapis.com/envoy.config.route.v3.FilterConfig"

// PerFilterConfigs compiles a typed_per_filter_config map into per-slot
// configs. A FilterConfig wrapper is unwrapped: disabled gives Disabled,
// is_optional lets an unknown filter be skipped. An unknown filter
// otherwise is an error, as in Envoy.
func PerFilterConfigs(m map[string]*anypb.Any) ([]any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []any
	for _, key := range keys {
		cfg := m[key]
		optional, off := false, false
		if cfg.GetTypeUrl() == filterConfigType {
			fc := &routev3.FilterConfig{}
			if err := cfg.UnmarshalTo(fc); err != nil {
				return nil, fmt.Errorf("typed_per_filter_config %q: %w", key, err)
			}
			cfg, optional, off = fc.GetConfig(), fc.GetIsOptional(), fc.GetDisabled()
		}
		mu.RLock()
		e, ok := byPerRouteType[cfg.GetTypeUrl()]
		if !ok && cfg == nil {
			// A disabled filter needs no config: find it by name.
			e, ok = byName[key]
		}
		mu.RUnlock()
		if !ok || e.Terminal {
			if optional {
				continue
			}
			return nil, fmt.Errorf("typed_per_filter_config %q: unsupported filter (type %q)", key, cfg.GetTypeUrl())
		}
		if out == nil {
			out = make([]any, Slots())
		}
		if off {
			out[e.slot] = Disabled
			continue
		}
		if cfg == nil {
			return nil, fmt.Errorf("typed_per_filter_config %q: no config", key)
		}
		v, err := e.PerRoute(cfg)
		if err != nil {
			return nil, fmt.Errorf("typed_per_filter_config %q: %w", key, err)
		}
		if v == nil {
			return nil, errors.New("typed_per_filter_config " + key + ": empty config")
		}
		out[e.slot] = v
	}
	return out, nil
}
