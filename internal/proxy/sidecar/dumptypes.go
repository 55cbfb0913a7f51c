package sidecar

import (
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"

	// Types the control plane sends that the proxy accepts without
	// decoding (the router filter, the TLS inspector, the retry
	// predicates), linked so that /config_dump shows them. They are small
	// and pull in nothing new.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
)

// dumpJSON renders config for /config_dump. An Any of a type the proxy
// does not link (an extension another control plane sends and the proxy
// ignores) is shown as its type URL alone instead of failing the dump.
var dumpJSON = protojson.MarshalOptions{Resolver: dumpResolver{}}

type dumpResolver struct{}

// opaque stands in for unknown types: a message without fields, so the
// value's fields are all unknown and left out.
var opaque = (&rawbufferv3.RawBuffer{}).ProtoReflect().Type()

func (dumpResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	if mt, err := protoregistry.GlobalTypes.FindMessageByURL(url); err == nil {
		return mt, nil
	}
	return opaque, nil
}

func (dumpResolver) FindMessageByName(n protoreflect.FullName) (protoreflect.MessageType, error) {
	return protoregistry.GlobalTypes.FindMessageByName(n)
}

func (dumpResolver) FindExtensionByName(n protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByName(n)
}

func (dumpResolver) FindExtensionByNumber(m protoreflect.FullName, n protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByNumber(m, n)
}
