package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/halyard-mesh/halyard/internal/capture"
)

// newInitCommand programs the traffic capture of the current network
// namespace: what Istio's init container does in a Kubernetes pod, and what
// `halyard up` does for each of its pods.
func newInitCommand() *cobra.Command {
	ann := map[string]*string{}
	var exclude []uint
	var remove bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Capture this network namespace's TCP traffic into the sidecar (as Istio's init container)",
		Long: `Programs nftables (table ip halyard) in the current network namespace: outbound
TCP is redirected to the sidecar's port 15001 and inbound TCP to 15006; the
sidecar's own traffic (group 1337) and loopback destinations are left alone.
The flags take the values of Istio's traffic.sidecar.istio.io annotations.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if remove {
				return capture.Remove(-1)
			}
			ports := make([]uint16, 0, len(exclude))
			for _, p := range exclude {
				if p == 0 || p > 65535 {
					return fmt.Errorf("init: --sidecar-port %d is not a port", p)
				}
				ports = append(ports, uint16(p))
			}
			values := map[string]string{}
			for k, v := range ann {
				if cmd.Flags().Changed(flagName(k)) {
					values[k] = *v
				}
			}
			r, err := capture.Defaults(ports...).WithAnnotations(values)
			if err != nil {
				return fmt.Errorf("init: %w", err)
			}
			if err := capture.Apply(-1, r); err != nil {
				return fmt.Errorf("init: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "capture installed: outbound TCP to 15001, inbound TCP to 15006")
			return nil
		},
	}
	for _, k := range []string{
		capture.AnnotationExcludeOutboundPorts, capture.AnnotationExcludeInboundPorts,
		capture.AnnotationExcludeOutboundIPRanges, capture.AnnotationIncludeOutboundIPRanges,
	} {
		ann[k] = cmd.Flags().String(flagName(k), "", "as the annotation "+k)
	}
	cmd.Flags().UintSliceVar(&exclude, "sidecar-port", []uint{15000}, "the sidecar's own ports never captured inbound (admin, health)")
	cmd.Flags().BoolVar(&remove, "remove", false, "remove the capture instead")
	return cmd
}

// flagName turns an annotation into its flag: excludeOutboundIPRanges ->
// exclude-outbound-ip-ranges.
func flagName(annotation string) string {
	name := annotation[len("traffic.sidecar.istio.io/"):]
	var b []byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		upper := c >= 'A' && c <= 'Z'
		if upper && i > 0 && (isLower(name[i-1]) || i+1 < len(name) && isLower(name[i+1])) {
			b = append(b, '-')
		}
		if upper {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
