package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/halyard-mesh/halyard/internal/local"
)

// globals are the flags every command shares.
type globals struct {
	stateDir string
	logLevel string
	getenv   func(string) string
}

func newRootCommand(getenv func(string) string) *cobra.Command {
	g := &globals{getenv: getenv}
	root := &cobra.Command{
		Use:           "halyard",
		Short:         "Halyard: a service mesh that speaks Istio's configuration",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.stateDir, "state-dir", local.DefaultStateDir(getenv), "directory where a running mesh keeps its state and logs")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	root.AddCommand(
		newUpCommand(g),
		newDownCommand(g),
		newExecCommand(g),
		newDashboardCommand(g),
		newTapCommand(g),
		newSampleCommand(g),
		newVersionCommand(),
		newInitCommand(),
		newPortForwardCommand(g),
		newPodExecCommand(),
	)
	return root
}

func (g *globals) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
