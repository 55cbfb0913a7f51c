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
