// Package compile turns Envoy xDS resources into the proxy's immutable
// runtime configuration: listener.Config, router.Table, upstream.Config and
// endpoint sets. It is the only package (besides xdsclient) that knows the
// Envoy API. An error from it is the NACK's error_detail; its text names
// the resource: `xds: cluster "outbound|9080|v2|reviews...": ...`.
package compile

import (
	"fmt"
	"net"
	"strconv"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Error is a compile error about one resource.
type Error struct {
	Kind string // "listener", "route", "cluster", "endpoints"
	Name string
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("xds: %s %q: %v", e.Kind, e.Name, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

func socketAddress(a *corev3.Address) (string, error) {
	sa := a.GetSocketAddress()
	if sa == nil {
		return "", fmt.Errorf("only socket addresses are supported, got %T", a.GetAddress())
	}
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		return "", fmt.Errorf("protocol %v is not supported", sa.GetProtocol())
	}
	if sa.GetNamedPort() != "" {
		return "", fmt.Errorf("named ports are not supported")
	}
	if sa.GetAddress() == "" {
		return "", fmt.Errorf("empty address")
	}
	return net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10)), nil
}

func boolValue(v *wrapperspb.BoolValue, def bool) bool {
	if v == nil {
		return def
	}
	return v.GetValue()
}

func duration(d *durationpb.Duration, def time.Duration) (time.Duration, error) {
	if d == nil {
		return def, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, err
	}
	return d.AsDuration(), nil
}
