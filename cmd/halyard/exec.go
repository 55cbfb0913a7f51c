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
		Long: `Runs COMMAND as a client of the running mesh, through a sidecar: in
transparent mode inside the client pod's network namespace, whose traffic
the sidecar captures; in explicit mode with HTTP_PROXY/HTTPS_PROXY set, so that
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
			c, err := execCommand(pod, args)
			if err != nil {
				return err
			}
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

// execCommand runs args as the pod's client: in transparent mode inside
// the pod's network namespace (its capture sends the traffic to its
// sidecar, its hosts file names the services), in explicit mode with the
// proxy variables pointing at its sidecar.
func execCommand(pod *local.PodState, args []string) (*exec.Cmd, error) {
	if pod.Netns != "" {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("exec: %w", err)
		}
		argv := append([]string{"pod-exec", "--netns", pod.Netns, "--hosts", pod.HostsFile, "--resolv", pod.ResolvFile, "--"}, args...)
		return exec.Command(self, argv...), nil
	}
	if pod.OutboundAddress == "" {
		return nil, fmt.Errorf("exec: pod %s/%s has no sidecar", pod.Namespace, pod.Name)
	}
	c := exec.Command(args[0], args[1:]...)
	c.Env = proxyEnv(os.Environ(), "http://"+pod.OutboundAddress)
	return c, nil
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
