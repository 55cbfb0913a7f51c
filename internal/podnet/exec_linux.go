package podnet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Exec replaces the current process with argv running inside the network
// namespace at netnsPath, in a private mount namespace where each file of
// etc (a path under /etc -> the file to mount there, e.g. "hosts") is
// bind-mounted, as `ip netns exec` does with /etc/netns/<name>/. It
// returns only on failure.
func Exec(netnsPath string, etc map[string]string, argv, env []string) error {
	if len(argv) == 0 {
		return fmt.Errorf("podnet: exec: no command")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("podnet: exec: %w", err)
	}
	// Namespaces belong to the thread: this one enters them and execs.
	runtime.LockOSThread()
	f, err := os.Open(netnsPath)
	if err != nil {
		return fmt.Errorf("podnet: exec: %w", err)
	}
	err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
	f.Close()
	if err != nil {
		return fmt.Errorf("podnet: exec: enter %s: %w", netnsPath, err)
	}
	if err := mountEtc(etc); err != nil {
		return err
	}
	err = syscall.Exec(path, argv, env)
	return fmt.Errorf("podnet: exec %s: %w", path, err)
}

// mountEtc bind-mounts files over /etc/<name> in a new private mount
// namespace of the calling thread.
func mountEtc(etc map[string]string) error {
	if len(etc) == 0 {
		return nil
	}
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("podnet: exec: mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("podnet: exec: make / private: %w", err)
	}
	for name, file := range etc {
		if file == "" {
			continue
		}
		target := filepath.Join("/etc", filepath.Clean("/"+name))
		if err := unix.Mount(file, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("podnet: exec: bind %s on %s: %w", file, target, err)
		}
	}
	return nil
}
