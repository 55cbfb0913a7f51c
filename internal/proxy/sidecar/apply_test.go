package sidecar_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/anypb"

	"github.com/halyard-mesh/halyard/internal/proxy/sidecar"
	"github.com/halyard-mesh/halyard/internal/proxy/xdsclient"
	x "github.com/halyard-mesh/halyard/internal/proxy/xdstest"
)

// TestApplyKeepsTheLastGoodSet: a resource that does not decode rejects
// the whole set (the NACK names it) and the config dump still shows the
// set applied before, as received.
func TestApplyKeepsTheLastGoodSet(t *testing.T) {
	p := sidecar.New(sidecar.Options{Log: slog.New(slog.DiscardHandler)})
	good, err := anypb.New(x.EDSCluster("c", false))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(xdsclient.ClusterType, "v1", []*anypb.Any{good}); err != nil {
		t.Fatalf("v1: %v", err)
	}
	bad := &anypb.Any{TypeUrl: xdsclient.ClusterType, Value: []byte{0x0a, 0xff}} // a name longer than the bytes
	err = p.Apply(xdsclient.ClusterType, "v2", []*anypb.Any{good, bad})
	if err == nil || !strings.Contains(err.Error(), "resource 1") {
		t.Fatalf("v2 with a resource that does not decode: %v, want an error naming resource 1", err)
	}
	var dump bytes.Buffer
	if err := p.ConfigDump(&dump); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump.String(), `"version_info": "v1"`) || !strings.Contains(dump.String(), `"c"`) {
		t.Errorf("config dump does not show the v1 cluster set:\n%s", dump.String())
	}
}

// The config dump shows what Istio's control plane sends, including the
// router filter and other types the proxy accepts without decoding, with
// their @type; an Any of a type the proxy does not know at all is shown
// by its type alone rather than failing the dump.
func TestConfigDumpTypes(t *testing.T) {
	p := sidecar.New(sidecar.Options{Log: slog.New(slog.DiscardHandler)})
	l := x.OutboundHTTP(9080, "0.0.0.0_9080")
	if err := p.Apply(xdsclient.ListenerType, "v1", []*anypb.Any{x.Any(l)}); err != nil {
		t.Fatal(err)
	}
	c := x.EDSCluster("c", false)
	c.TypedExtensionProtocolOptions = map[string]*anypb.Any{"example.unknown": {TypeUrl: "type.googleapis.com/example.Unknown", Value: []byte{0x0a, 0x01, 'x'}}}
	if err := p.Apply(xdsclient.ClusterType, "v1", []*anypb.Any{x.Any(c)}); err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	if err := p.ConfigDump(&dump); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", "type.googleapis.com/example.Unknown"} {
		if !strings.Contains(dump.String(), want) {
			t.Errorf("config dump without %s:\n%s", want, dump.String())
		}
	}
}
