package filter_test

import (
	"slices"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/halyard-mesh/halyard/internal/proxy/filter"
	_ "github.com/halyard-mesh/halyard/internal/proxy/filter/builtin"
)

func anyOf(m proto.Message) *anypb.Any {
	a, _ := anypb.New(m)
	return a
}

func TestRegistry(t *testing.T) {
	names := filter.Names()
	for _, n := range []string{"envoy.filters.http.cors", "envoy.filters.http.fault", "envoy.filters.http.router"} {
		if !slices.Contains(names, n) {
			t.Errorf("%s not registered: %v", n, names)
		}
	}
	byType := filter.Lookup("some.custom.name", "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault")
	byName := filter.Lookup("envoy.filters.http.fault", "")
	if byType == nil || byType != byName || byType.Slot() >= filter.Slots() {
		t.Errorf("lookup by type %v, by name %v", byType, byName)
	}
	if r := filter.Lookup("envoy.filters.http.router", ""); r == nil || !r.Terminal {
		t.Error("router not terminal")
	}
	if filter.Lookup("envoy.filters.http.lua", "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua") != nil {
		t.Error("lua found")
	}
	defer func() {
		if recover() == nil {
			t.Error("duplicate registration did not panic")
		}
	}()
	filter.Register(&filter.Factory{Name: "envoy.filters.http.fault", Terminal: true})
}

func TestPerFilterConfigs(t *testing.T) {
	slot := filter.Lookup("envoy.filters.http.fault", "").Slot()
	fault := anyOf(&faultv3.HTTPFault{})
	for _, tc := range []struct {
		name string
		in   map[string]*anypb.Any
		want func(v any) bool
		err  string
	}{
		{"plain", map[string]*anypb.Any{"envoy.filters.http.fault": fault}, func(v any) bool { return v != nil && v != filter.Disabled }, ""},
		{"any key, resolved by type", map[string]*anypb.Any{"my-fault": fault}, func(v any) bool { return v != nil && v != filter.Disabled }, ""},
		{"wrapped", map[string]*anypb.Any{"envoy.filters.http.fault": anyOf(&routev3.FilterConfig{Config: fault})}, func(v any) bool { return v != nil && v != filter.Disabled }, ""},
		{"disabled", map[string]*anypb.Any{"envoy.filters.http.fault": anyOf(&routev3.FilterConfig{Disabled: true})}, func(v any) bool { return v == filter.Disabled }, ""},
		{"unknown", map[string]*anypb.Any{"envoy.filters.http.lua": anyOf(&structpb.Struct{})}, nil, "unsupported filter"},
		{"unknown optional", map[string]*anypb.Any{"envoy.filters.http.lua": anyOf(&routev3.FilterConfig{IsOptional: true, Config: anyOf(&structpb.Struct{})})}, func(v any) bool { return v == nil }, ""},
		{"router", map[string]*anypb.Any{"envoy.filters.http.router": anyOf(&structpb.Struct{})}, nil, "unsupported filter"},
	} {
		out, err := filter.PerFilterConfigs(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var v any
		if slot < len(out) {
			v = out[slot]
		}
		if !tc.want(v) {
			t.Errorf("%s: slot %d holds %v", tc.name, slot, v)
		}
	}
}
