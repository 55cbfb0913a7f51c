// Package e2e holds end-to-end tests: they build the halyard and
// halyard-proxy binaries, start meshes with `halyard up -d` on free ports,
// send real traffic through real sidecars and assert on the numbers.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/halyard-mesh/halyard/internal/buildflags"
)

// binDir holds the binaries built for this test run.
var binDir string

func TestMain(m *testing.M) {
	if os.Getenv(grpcClientEnv) != "" {
		os.Exit(grpcClientMain())
	}
	if os.Getenv(tcpEchoEnv) != "" {
		os.Exit(tcpEchoMain())
	}
	dir, err := os.MkdirTemp("", "halyard-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	args := append(append([]string{"build"}, buildflags.Args...), "-o", dir+"/", "../../cmd/halyard", "../../cmd/halyard-proxy")
	build := exec.Command("go", args...)
	build.Env = append(os.Environ(), buildflags.Env...)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building binaries:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func halyardBin() string { return filepath.Join(binDir, "halyard") }
