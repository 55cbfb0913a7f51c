package localmesh

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"

	"github.com/halyard-mesh/halyard/internal/local"
	"github.com/halyard-mesh/halyard/internal/podnet"
)

// Capture modes of `halyard up --capture`.
const (
	CaptureAuto        = "auto"
	CaptureTransparent = "transparent"
	CaptureExplicit    = "explicit"
)

// captureSetup is the outcome of choosing the capture mode: the pod
// network in transparent mode (nil in explicit mode) and the line that
// tells the user which mode runs and why.
type captureSetup struct {
	network *podnet.Network
	line    string
}

// chooseCapture decides the mode. auto is transparent on Linux as root,
// explicit otherwise; transparent fails when it cannot be had. The bridge
// is created by setupNetwork, after the prefix is in the state file.
func (m *mesh) chooseCapture() (*captureSetup, error) {
	mode := m.opts.Capture
	switch mode {
	case "", CaptureAuto:
		if why := transparentUnavailable(); why != "" {
			return &captureSetup{line: "capture: explicit (HTTP_PROXY); transparent capture " + why}, nil
		}
	case CaptureTransparent:
		if why := transparentUnavailable(); why != "" {
			return nil, fmt.Errorf("up: --capture transparent: %s", why)
		}
	case CaptureExplicit:
		return &captureSetup{line: "capture: explicit (HTTP_PROXY), as asked"}, nil
	default:
		return nil, fmt.Errorf("up: --capture %q: want auto, transparent or explicit", mode)
	}
	prefix := m.opts.NetPrefix
	if prefix == "" {
		prefix = podnet.NewPrefix()
	}
	n, err := podnet.New(podnet.Options{Prefix: prefix, PodCIDR: orDefault(m.opts.PodCIDR, podnet.DefaultPodCIDR)})
	if err != nil {
		return nil, fmt.Errorf("up: %w", err)
	}
	return &captureSetup{network: n, line: fmt.Sprintf("capture: transparent (pods on bridge %s, %s; services %s)",
		n.BridgeName(), orDefault(m.opts.PodCIDR, podnet.DefaultPodCIDR), orDefault(m.opts.ServiceCIDR, podnet.DefaultServiceCIDR))}, nil
}

// transparentUnavailable says why transparent capture cannot run here, or "".
func transparentUnavailable() string {
	switch {
	case runtime.GOOS != "linux":
		return "needs Linux"
	case os.Geteuid() != 0:
		return "needs root (network namespaces and nftables)"
	}
	return ""
}

// setupNetwork creates the bridge; in auto mode a failure falls back to
// explicit mode with the reason.
func (m *mesh) setupNetwork(cs *captureSetup) error {
	if cs.network == nil {
		return nil
	}
	err := cs.network.Setup()
	if err == nil {
		return nil
	}
	if m.opts.Capture == CaptureTransparent {
		return fmt.Errorf("up: %w", err)
	}
	cs.network, cs.line = nil, "capture: explicit (HTTP_PROXY); transparent capture failed: "+err.Error()
	return nil
}

// transparentOptions are the runner's options for transparent mode.
func (m *mesh) transparentOptions(cs *captureSetup) *local.Transparent {
	if cs.network == nil {
		return nil
	}
	return &local.Transparent{
		Network: cs.network, ServiceCIDR: orDefault(m.opts.ServiceCIDR, podnet.DefaultServiceCIDR),
		PodExec: m.opts.PodExec,
	}
}

// podReachable is where a control-plane service the sidecars use (ADS, the
// CA) listens: in transparent mode a loopback host is replaced by the
// bridge's address, which the pods reach.
func podReachable(flag, addr string, cs *captureSetup) (string, error) {
	if cs.network == nil {
		return addr, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("up: %s %q: %w", flag, addr, err)
	}
	if ip, err := netip.ParseAddr(host); err == nil && !ip.IsLoopback() || host == "" {
		return addr, nil
	}
	if host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			return "", fmt.Errorf("up: %s must be an IP address in transparent mode", flag)
		}
	}
	return net.JoinHostPort(cs.network.Gateway().String(), port), nil
}

func orDefault(p, def netip.Prefix) netip.Prefix {
	if p.IsValid() {
		return p
	}
	return def
}
