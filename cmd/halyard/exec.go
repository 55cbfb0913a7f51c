package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"github.com/halyard-mesh/halyard/internal/local"
	"github.com/halyard-mesh/halyard/internal/localmesh"
)

func newExecCommand(g *globals) *cobra.Command {
	var as string
	cmd := &cobra.Command{
		Use:   "exec [--as WORKLOAD] -- COMMAND [ARG...]",
		Short: "Run a command as a client inside the running mesh, through a sidecar",
		Long: `Runs COMMAND with its outbound HTTP sent through a sidecar of the running mesh
(the standard HTTP_PROXY/HTTPS_PROXY variables), so that
  halyard exec -- curl -s http://reviews:9080/
is routed by the mesh's VirtualServices exactly like traffic from a pod.
By default the command uses the mesh's own client sidecar (halyard-exec in
namespace default); --as WORKLOAD uses the sidecar of that workload's pod
(a Deployment name, a pod name, or namespace/name).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := local.ReadState(g.stateDir)
			if err != nil {
				return err
			}
			if !local.Alive(st.PID) {
				return fmt.Errorf("exec: the mesh in %s is not running (pid %d); start it with `halyard up`", g.stateDir, st.PID)
			}
			if as == "" {
				as = localmesh.ExecClient.Namespace + "/" + localmesh.ExecClient.Name
			}
			pod, ok := st.Pod(as)
			if !ok {
				return fmt.Errorf("exec: no pod %q in the mesh", as)
			}
			if pod.OutboundAddress == "" {
				return fmt.Errorf("exec: pod %s/%s has no sidecar", pod.Namespace, pod.Name)
			}
			c := exec.Command(args[0], args[1:]...)
			c.Env = proxyEnv(os.Environ(), "http://"+pod.OutboundAddress)
			c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			err = c.Run()
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				return exitCode(exitErr.ExitCode())
			}
			if err != nil {
				return fmt.Errorf("exec: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "workload or pod whose sidecar the command uses")
	return cmd
}

// proxyEnv returns env with the proxy variables pointing at the sidecar.
func proxyEnv(env []string, proxy string) []string {
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "http_proxy", "https_proxy", "no_proxy", "all_proxy":
			continue
		}
		out = append(out, kv)
	}
	return append(out,
		"HTTP_PROXY="+proxy, "http_proxy="+proxy,
		"HTTPS_PROXY="+proxy, "https_proxy="+proxy,
		"NO_PROXY=localhost,127.0.0.1,::1", "no_proxy=localhost,127.0.0.1,::1",
	)
}
