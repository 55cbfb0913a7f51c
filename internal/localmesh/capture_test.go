package localmesh

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/halyard-mesh/halyard/internal/podnet"
)

func TestXDSAddressMovesToTheBridgeInTransparentMode(t *testing.T) {
	n, err := podnet.New(podnet.Options{Prefix: "hytest", PodCIDR: netip.MustParsePrefix("198.18.7.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	cs := &captureSetup{network: n}
	for in, want := range map[string]string{
		"127.0.0.1:15010": "198.18.7.1:15010",
		"localhost:0":     "198.18.7.1:0",
		"10.1.2.3:15010":  "10.1.2.3:15010",
		":15010":          ":15010",
	} {
		got, err := podReachable("--xds-address", in, cs)
		if err != nil || got != want {
			t.Errorf("podReachable(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got, _ := podReachable("--xds-address", "127.0.0.1:15010", &captureSetup{}); got != "127.0.0.1:15010" {
		t.Errorf("explicit mode moved the address to %q", got)
	}
	if _, err := podReachable("--xds-address", "nohost", cs); err == nil {
		t.Error("a malformed address was accepted")
	}
}

func TestChooseCapture(t *testing.T) {
	m := &mesh{opts: Options{Capture: "sideways"}}
	if _, err := m.chooseCapture(); err == nil || !strings.Contains(err.Error(), "auto, transparent or explicit") {
		t.Errorf("bad mode: %v", err)
	}
	m.opts.Capture = CaptureExplicit
	cs, err := m.chooseCapture()
	if err != nil || cs.network != nil || !strings.HasPrefix(cs.line, "capture: explicit") {
		t.Errorf("explicit: %+v, %v", cs, err)
	}
	m.opts.Capture = CaptureAuto
	cs, err = m.chooseCapture()
	if err != nil {
		t.Fatal(err)
	}
	if why := transparentUnavailable(); (why == "") != (cs.network != nil) {
		t.Errorf("auto chose %q although transparent unavailable = %q", cs.line, why)
	}
}
