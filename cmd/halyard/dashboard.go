package main

import (
	"fmt"
	"net/http"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/halyard-mesh/halyard/internal/local"
)

func newDashboardCommand(g *globals) *cobra.Command {
	var open bool
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Print (or open) the URL of the running mesh's web UI",
		Long: `Prints the URL of the web UI served by the running mesh's control plane:
the service graph with live requests/s, error rate, P99 and mTLS per edge,
per-service charts, the applied VirtualServices and DestinationRules, and the
proxies' sync status. --open also opens it with xdg-open.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := local.ReadState(g.stateDir)
			if err != nil {
				return err
			}
			if !local.Alive(st.PID) || st.DashboardURL == "" {
				return fmt.Errorf("dashboard: the mesh in %s is not running; start it with `halyard up`", g.stateDir)
			}
			client := &http.Client{Timeout: 2 * time.Second}
			resp, err := client.Get(st.DashboardURL)
			if err != nil {
				return fmt.Errorf("dashboard: %s does not answer: %w", st.DashboardURL, err)
			}
			resp.Body.Close()
			fmt.Fprintln(cmd.OutOrStdout(), st.DashboardURL)
			if open {
				if err := exec.Command("xdg-open", st.DashboardURL).Run(); err != nil {
					return fmt.Errorf("dashboard: open the URL above in a browser (xdg-open: %w)", err)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&open, "open", false, "open the UI in the default browser (xdg-open)")
	return cmd
}
