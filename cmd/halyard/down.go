package main

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/halyard-mesh/halyard/internal/local"
	"github.com/halyard-mesh/halyard/internal/podnet"
)

func newDownCommand(g *globals) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the mesh started by `halyard up` and every process it started",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := local.ReadState(g.stateDir)
			if errors.Is(err, local.ErrNoMesh) {
				fmt.Fprintln(cmd.OutOrStdout(), "no mesh running")
				return nil
			}
			if err != nil {
				return err
			}
			if local.Alive(st.PID) {
				_ = syscall.Kill(st.PID, syscall.SIGTERM)
				deadline := time.Now().Add(timeout)
				for local.Alive(st.PID) && time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
				}
				if local.Alive(st.PID) {
					_ = syscall.Kill(st.PID, syscall.SIGKILL)
				}
			}
			// Processes of a mesh whose `halyard up` was killed: each runs in
			// its own process group, named by its pid.
			killed := 0
			for _, p := range st.Pods {
				for _, pid := range p.PIDs {
					if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
						_ = syscall.Kill(-pid, syscall.SIGKILL)
						killed++
					}
				}
			}
			procs, removed, netErr := cleanupNetwork(st)
			killed += procs
			if netErr != nil {
				return fmt.Errorf("down: %w (the state file is kept: run `halyard down` again)", netErr)
			}
			if err := local.RemoveState(g.stateDir); err != nil {
				return fmt.Errorf("down: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "mesh stopped (pid %d", st.PID)
			if killed > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "; %d leftover processes killed", killed)
			}
			if removed > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "; %d leftover namespaces and links removed", removed)
			}
			fmt.Fprintln(cmd.OutOrStdout(), ")")
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Second, "how long to wait for a graceful stop before killing")
	return cmd
}

// cleanupNetwork removes the network namespaces and links a transparent
// mesh left (all named with its prefix), killing the processes still in
// them; it counts both.
func cleanupNetwork(st *local.State) (procs, removed int, err error) {
	if st.NetPrefix == "" {
		return 0, 0, nil
	}
	items, err := podnet.Cleanup(st.NetPrefix)
	for _, r := range items {
		if strings.HasPrefix(r, "process ") {
			procs++
		} else {
			removed++
		}
	}
	return procs, removed, err
}
