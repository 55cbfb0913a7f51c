// Package istioauthn is Istio's istio_authn HTTP filter: after jwt_authn,
// it derives the request.auth.* attributes from the verified JWT payload
// and publishes them as dynamic metadata under "istio_authn", where
// authorization (the rbac filter's metadata matchers) reads them:
//
//	request.auth.principal  string  "<iss>/<sub>"
//	request.auth.audiences  list    the aud claim (a string becomes a one-element list)
//	request.auth.presenter  string  the azp claim
//	request.auth.claims     struct  every claim, as Istio exposes them: a
//	                                string becomes a one-element list, a list
//	                                keeps its elements, an object is a struct
//	                                of claims in turn, numbers and booleans
//	                                stay as they are
//
// The lists are what Istio's RBAC translation matches with list matchers
// (request.auth.claims[groups] one_of). With several verified payloads
// (several providers), the one of the smallest metadata key (issuer) is
// used. The filter's config is ignored; the control plane sends an empty
// TypedStruct of type io.istio.network.authn.Config, as Istio.
package istioauthn

import (
	"net/http"
	"sort"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/halyard-mesh/halyard/internal/proxy/filter"
	"github.com/halyard-mesh/halyard/internal/proxy/filter/jwtauthn"
	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

// Name is the filter's name, and the metadata namespace it publishes.
const Name = "istio_authn"

// Attribute keys of the published Struct.
const (
	Principal = "request.auth.principal"
	Audiences = "request.auth.audiences"
	Presenter = "request.auth.presenter"
	Claims    = "request.auth.claims"
)

func init() {
	// Looked up by name: its TypedStruct type URL is shared by every
	// TypedStruct config.
	filter.Register(&filter.Factory{
		Name: Name,
		New:  func(*anypb.Any, int) (hcm.Filter, error) { return Filter{}, nil },
	})
}

// Filter is the istio_authn filter; it has no state.
type Filter struct{}

var _ hcm.Filter = Filter{}

// OnRequest publishes the attributes of the request's verified JWT, if any.
func (Filter) OnRequest(x *hcm.Exchange) bool {
	if a := Attributes(x.Metadata(jwtauthn.MetadataNamespace)); a != nil {
		x.SetMetadata(Name, a)
	}
	return true
}

// OnResponse does nothing.
func (Filter) OnResponse(*hcm.Exchange, int, http.Header) {}

// Attributes derives the request.auth.* attributes from jwt_authn's
// metadata (payloads by issuer); nil when there is none.
func Attributes(jwt *structpb.Struct) *structpb.Struct {
	if len(jwt.GetFields()) == 0 {
		return nil
	}
	keys := make([]string, 0, len(jwt.Fields))
	for k := range jwt.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	payload := jwt.Fields[keys[0]].GetStructValue()
	if payload == nil {
		return nil
	}
	f := payload.GetFields()
	out := map[string]*structpb.Value{Claims: structpb.NewStructValue(claimsOf(payload))}
	iss, sub := f["iss"].GetStringValue(), f["sub"].GetStringValue()
	if iss != "" || sub != "" {
		out[Principal] = structpb.NewStringValue(iss + "/" + sub)
	}
	if aud := stringList(f["aud"]); aud != nil {
		out[Audiences] = aud
	}
	if azp := f["azp"].GetStringValue(); azp != "" {
		out[Presenter] = structpb.NewStringValue(azp)
	}
	return &structpb.Struct{Fields: out}
}

// claimsOf converts a payload as Istio does: strings to one-element lists,
// objects recursively.
func claimsOf(s *structpb.Struct) *structpb.Struct {
	out := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(s.GetFields()))}
	for k, v := range s.GetFields() {
		switch v.GetKind().(type) {
		case *structpb.Value_StringValue:
			out.Fields[k] = stringList(v)
		case *structpb.Value_StructValue:
			out.Fields[k] = structpb.NewStructValue(claimsOf(v.GetStructValue()))
		default:
			out.Fields[k] = v
		}
	}
	return out
}

// stringList is a string as a one-element list, a list as itself; nil
// otherwise.
func stringList(v *structpb.Value) *structpb.Value {
	switch v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{v}})
	case *structpb.Value_ListValue:
		return v
	}
	return nil
}
