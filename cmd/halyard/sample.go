package main

import (
	"github.com/spf13/cobra"

	"github.com/halyard-mesh/halyard/internal/sample"
)

func newSampleCommand(g *globals) *cobra.Command {
	o := sample.Options{Instance: g.getenv("POD_NAME")}
	cmd := &cobra.Command{
		Use:   "sample --service NAME --version V --port PORT [--call URL ...]",
		Short: "Run the sample application (HTTP/1.1, h2c and gRPC echo on one port)",
		Long: `The sample application of the demo: it replies with its service, version and
instance and the request's headers; ?delay=250ms, ?status=503 (or 503:50 for
50%) and ?size=1024 shape the reply; each --call URL is called on every
request, propagating x-request-id and the tracing headers. The same port
serves the gRPC service halyard.sample.v1.Echo.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Logger = g.logger()
			return sample.Run(cmd.Context(), o)
		},
	}
	sample.AddFlags(cmd.Flags(), &o)
	return cmd
}
