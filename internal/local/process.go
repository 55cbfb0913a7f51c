package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// procSpec is one process of a pod: a container or the sidecar.
type procSpec struct {
	Name    string // for logs: reviews-v1-0/reviews
	Path    string
	Args    []string
	Env     []string
	Dir     string
	LogPath string
	// GID, when not 0, is the group the process runs as (the sidecar's in
	// transparent mode, which the capture rules leave alone).
	GID uint32
}

// stopGrace is how long a process gets between SIGTERM and SIGKILL.
const stopGrace = 5 * time.Second

// supervise runs the process until ctx is done, restarting it with
// exponential backoff when it exits (Kubernetes' restartPolicy: Always).
// started and exited report each run's pid and end.
func supervise(ctx context.Context, spec procSpec, log *slog.Logger, started func(pid int), exited func(error)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		begin := time.Now()
		err := runOnce(ctx, spec, started)
		if ctx.Err() != nil {
			return
		}
		exited(err)
		if time.Since(begin) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		log.Warn("process exited; restarting", "process", spec.Name, "error", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// runOnce starts the process in its own process group, tied to this
// process's life (it gets SIGKILL if Halyard dies), and waits for it. When ctx
// ends, the group gets SIGTERM, then SIGKILL after stopGrace.
func runOnce(ctx context.Context, spec procSpec, started func(pid int)) error {
	logFile, err := os.OpenFile(spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("local: %s: log file: %w", spec.Name, err)
	}
	defer logFile.Close()
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env, cmd.Dir = spec.Env, spec.Dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if spec.GID != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(os.Getuid()), Gid: spec.GID, NoSetGroups: true}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("local: %s: start %s: %w", spec.Name, spec.Path, err)
	}
	pid := cmd.Process.Pid
	started(pid)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		_ = syscall.Kill(-pid, syscall.SIGKILL) // anything the process left in its group
		return fmt.Errorf("local: %s: %w", spec.Name, exitError(err))
	case <-ctx.Done():
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(stopGrace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	return nil
}

func exitError(err error) error {
	if err == nil {
		return errors.New("exited with status 0")
	}
	return err
}

// lookPath finds a command the way a shell would, searching the given
// directories before the PATH of the environment.
func lookPath(file string, first []string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	dirs := slicesClone(first)
	if p, ok := envLookup(env)("PATH"); ok {
		dirs = append(dirs, filepath.SplitList(p)...)
	}
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		path := filepath.Join(dir, file)
		if fi, err := os.Stat(path); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return path, nil
		}
	}
	return "", fmt.Errorf("local: %q: %w", file, exec.ErrNotFound)
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }
