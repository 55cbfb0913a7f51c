package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/halyard-mesh/halyard/internal/podnet"
)

// newPodExecCommand is the helper `halyard up` starts a transparent pod's
// processes with: it enters the pod's network namespace, mounts the pod's
// hosts file on /etc/hosts (and its resolv.conf) and becomes the command.
func newPodExecCommand() *cobra.Command {
	var netns, hosts, resolv string
	cmd := &cobra.Command{
		Use:    "pod-exec --netns PATH [--hosts FILE] [--resolv FILE] -- COMMAND [ARG...]",
		Short:  "Run a command inside a pod's network namespace (used by `halyard up`)",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return podnet.Exec(netns, map[string]string{"hosts": hosts, "resolv.conf": resolv}, args, os.Environ())
		},
	}
	cmd.Flags().StringVar(&netns, "netns", "", "path of the network namespace (/run/netns/NAME)")
	cmd.Flags().StringVar(&hosts, "hosts", "", "file to mount on /etc/hosts")
	cmd.Flags().StringVar(&resolv, "resolv", "", "file to mount on /etc/resolv.conf")
	_ = cmd.MarkFlagRequired("netns")
	return cmd
}
