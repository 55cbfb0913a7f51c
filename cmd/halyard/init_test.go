package main

import (
	"testing"

	"github.com/halyard-mesh/halyard/internal/capture"
)

func TestInitFlagNames(t *testing.T) {
	for ann, want := range map[string]string{
		capture.AnnotationExcludeOutboundPorts:    "exclude-outbound-ports",
		capture.AnnotationExcludeInboundPorts:     "exclude-inbound-ports",
		capture.AnnotationExcludeOutboundIPRanges: "exclude-outbound-ip-ranges",
		capture.AnnotationIncludeOutboundIPRanges: "include-outbound-ip-ranges",
	} {
		if got := flagName(ann); got != want {
			t.Errorf("flagName(%s) = %q, want %q", ann, got, want)
		}
	}
}
