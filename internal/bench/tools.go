package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/halyard-mesh/halyard/internal/buildflags"
)

// modulePath is the main module whose binaries the bench builds.
const modulePath = "github.com/halyard-mesh/halyard"

// fortioPackage is built from the tools module (tools/go.mod), which pins
// its version.
const fortioPackage = "fortio.org/fortio"

// toolPaths are the programs the harness runs.
type toolPaths struct {
	Go, Fortio, Halyard, Proxy, CPServer, HAProxy string
}

// FindRepo returns the root of the Halyard module that contains dir.
func FindRepo(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if modulePathOf(filepath.Join(d, "go.mod")) == modulePath {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("bench: %s is not inside the %s module; run from the repository or pass its directory", dir, modulePath)
		}
	}
}

// modulePathOf returns the module path declared in a go.mod file ("" if none).
func modulePathOf(goMod string) string {
	f, err := os.Open(goMod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// Preflight checks, without installing or downloading anything, that the
// data-plane bench can run here: go, taskset, haproxy, and fortio's module
// and dependencies in the module cache.
func Preflight(ctx context.Context, repo string) error {
	for _, tool := range []string{"go", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("bench: %s is not on PATH: %w", tool, err)
		}
	}
	if _, err := haproxyPath(); err != nil {
		return err
	}
	env := append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod")
	out, err := runCommand(ctx, []string{"go", "list", "-C", filepath.Join(repo, "tools"), "-deps", fortioPackage}, env, repo)
	if err != nil {
		return fmt.Errorf("bench: fortio is not in the module cache (the bench downloads it through tools/go.mod): %w\n%s", err, tail(out, 1000))
	}
	return nil
}

// prepareTools finds or builds every program the enabled phases need.
func (h *harness) prepareTools(ctx context.Context) error {
	t := &h.tools
	var err error
	if t.Go, err = exec.LookPath("go"); err != nil {
		return fmt.Errorf("bench: the go command is needed to build fortio (tools/go.mod) and the Halyard binaries: %w", err)
	}
	bin := filepath.Join(h.work, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	var pkgs []string
	if !h.opts.SkipDataPlane {
		if _, err := exec.LookPath("taskset"); err != nil {
			return fmt.Errorf("bench: taskset (util-linux) is needed to pin processes to cores: %w", err)
		}
		if t.HAProxy, err = h.findHAProxy(ctx); err != nil {
			return err
		}
		t.Fortio, t.Halyard = filepath.Join(bin, "fortio"), filepath.Join(bin, "halyard")
		if err := h.build(ctx, filepath.Join(h.opts.RepoDir, "tools"), t.Fortio, fortioPackage); err != nil {
			return err
		}
		pkgs = append(pkgs, "./cmd/halyard")
	}
	// Both halves run the sidecar: the control-plane run syncs one real
	// sidecar with the whole synthetic mesh.
	t.Proxy = filepath.Join(bin, "halyard-proxy")
	if err := h.build(ctx, h.opts.RepoDir, t.Proxy, h.opts.ProxyPackage); err != nil {
		return err
	}
	if !h.opts.SkipControlPlane {
		pkgs = append(pkgs, "./internal/bench/cpserver")
		t.CPServer = filepath.Join(bin, "cpserver")
	}
	if len(pkgs) == 0 {
		return nil
	}
	return h.build(ctx, h.opts.RepoDir, bin+"/", pkgs...)
}

// build runs `go build -o out` for packages in the module at dir; out is
// a directory (ending in /) or, for one package, a file.
func (h *harness) build(ctx context.Context, dir, out string, pkgs ...string) error {
	h.log.Info("building", "dir", dir, "packages", pkgs)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	argv := append(append([]string{h.tools.Go, "build"}, buildflags.Args...), "-o", out)
	argv = append(argv, pkgs...)
	if log, err := runCommand(ctx, argv, append(os.Environ(), buildflags.Env...), dir); err != nil {
		return fmt.Errorf("bench: go build %s (in %s): %w\n%s", strings.Join(pkgs, " "), dir, err, tail(log, 4000))
	}
	return nil
}

// haproxyPath finds haproxy on PATH or where Debian installs it.
func haproxyPath() (string, error) {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	if fi, err := os.Stat("/usr/sbin/haproxy"); err == nil && fi.Mode()&0o111 != 0 {
		return "/usr/sbin/haproxy", nil
	}
	return "", errors.New("bench: haproxy not found: install it (`apt-get install haproxy`), or run the bench as root with -install")
}

// findHAProxy returns haproxy's path, installing it with apt-get when
// allowed (-install, as root).
func (h *harness) findHAProxy(ctx context.Context) (string, error) {
	p, err := haproxyPath()
	if err == nil || !h.opts.Install {
		return p, err
	}
	if os.Geteuid() != 0 {
		return "", errors.New("bench: -install runs apt-get and needs root; install haproxy yourself (`sudo apt-get install haproxy`)")
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, argv := range [][]string{{"apt-get", "update", "-qq"}, {"apt-get", "install", "-y", "-qq", "haproxy"}} {
		h.log.Info("installing haproxy", "command", strings.Join(argv, " "))
		if out, err := runCommand(ctx, argv, env, "/"); err != nil {
			return "", fmt.Errorf("bench: %s: %w\n%s", strings.Join(argv, " "), err, tail(out, 2000))
		}
	}
	return haproxyPath()
}
