package xds

import (
	"maps"
	"slices"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	networking "istio.io/api/networking/v1alpha3"
)

// headerOps is an Istio Headers block translated for Envoy, as Istio's
// TranslateHeadersOperations does it: set is OVERWRITE_IF_EXISTS_OR_ADD,
// add is APPEND_IF_EXISTS_OR_ADD, each sorted by name, sets before adds.
// Pseudo-headers (":...") and Host cannot be changed this way and are
// dropped; a request set (or add) of ":authority" or "host" becomes the
// authority rewrite instead.
type headerOps struct {
	requestAdd     []*core.HeaderValueOption
	requestRemove  []string
	responseAdd    []*core.HeaderValueOption
	responseRemove []string
	authority      string
}

func headerOperations(h *networking.Headers) headerOps {
	req, resp := h.GetRequest(), h.GetResponse()
	set, setAuthority := headerValues(req.GetSet(), core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)
	add, addAuthority := headerValues(req.GetAdd(), core.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD)
	respSet, _ := headerValues(resp.GetSet(), core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)
	respAdd, _ := headerValues(resp.GetAdd(), core.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD)
	authority := addAuthority
	if setAuthority != "" {
		authority = setAuthority
	}
	return headerOps{
		requestAdd:     append(set, add...),
		requestRemove:  dropInternalHeaders(req.GetRemove()),
		responseAdd:    append(respSet, respAdd...),
		responseRemove: dropInternalHeaders(resp.GetRemove()),
		authority:      authority,
	}
}

// headerValues turns a name → value map into header options sorted by name,
// and returns the value given to the authority, if any.
func headerValues(m map[string]string, action core.HeaderValueOption_HeaderAppendAction) ([]*core.HeaderValueOption, string) {
	var out []*core.HeaderValueOption
	authority := ""
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if isAuthorityHeader(name) {
			authority = m[name]
		}
		if isInternalHeader(name) {
			continue
		}
		out = append(out, &core.HeaderValueOption{
			Header:       &core.HeaderValue{Key: name, Value: m[name]},
			AppendAction: action,
		})
	}
	return out, authority
}

func dropInternalHeaders(names []string) []string {
	var out []string
	for _, n := range names {
		if !isInternalHeader(n) {
			out = append(out, n)
		}
	}
	return out
}

// isInternalHeader: a pseudo-header or Host, which Envoy's header
// manipulation cannot change.
func isInternalHeader(name string) bool {
	return strings.HasPrefix(name, ":") || strings.EqualFold(name, "host")
}

func isAuthorityHeader(name string) bool {
	return strings.EqualFold(name, ":authority") || strings.EqualFold(name, "host")
}
