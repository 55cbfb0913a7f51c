package main

import (
	"context"
	"fmt"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/halyard-mesh/halyard/internal/local"
	"github.com/halyard-mesh/halyard/internal/tap"
)

func newTapCommand(g *globals) *cobra.Command {
	var output string
	var filter tap.Filter
	cmd := &cobra.Command{
		Use:   "tap SERVICE[.NAMESPACE]",
		Short: "Stream the live requests a service's pods receive, until Ctrl-C",
		Long: `Follows the requests arriving at every pod of SERVICE (inbound, as each pod's
sidecar sees them) and prints one line per completed request: time, protocol,
method, path, status, latency, Envoy response flags, source and destination.
-o json prints the sidecars' NDJSON events instead.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("tap: -o %q: want text or json", output)
			}
			st, err := local.ReadState(g.stateDir)
			if err != nil {
				return err
			}
			if !local.Alive(st.PID) {
				return fmt.Errorf("tap: the mesh in %s is not running; start it with `halyard up`", g.stateDir)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			sidecars, err := resolveTap(ctx, st, args[0])
			if err != nil {
				return err
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			fmt.Fprintf(errOut, "tapping %d pod(s) of %s; Ctrl-C stops\n", len(sidecars), args[0])
			filter.Direction = "inbound"
			tap.Follow(ctx, sidecars, tap.Options{
				Filter:  filter,
				OnError: func(s string, err error) { fmt.Fprintf(errOut, "%v (reconnecting)\n", err) },
			}, func(r tap.Received) {
				if output == "json" {
					fmt.Fprintf(out, "%s\n", r.Raw)
				} else {
					fmt.Fprintln(out, tap.Format(r.Event))
				}
			})
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json (NDJSON)")
	cmd.Flags().StringVar(&filter.Method, "method", "", "only requests with this method")
	cmd.Flags().StringVar(&filter.Path, "path", "", "only requests whose path starts with this prefix")
	return cmd
}

func resolveTap(ctx context.Context, st *local.State, service string) ([]tap.Sidecar, error) {
	services, err := tap.FetchRegistry(ctx, &http.Client{Timeout: 5 * time.Second}, st.AdminAddress)
	if err != nil {
		return nil, err
	}
	pods := make([]tap.Pod, 0, len(st.Pods))
	for _, p := range st.Pods {
		pods = append(pods, tap.Pod{Name: p.Name, Namespace: p.Namespace, AdminAddress: p.AdminAddress})
	}
	return tap.Sidecars(services, pods, service)
}
