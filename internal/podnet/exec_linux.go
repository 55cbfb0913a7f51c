package podnet

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Exec replaces the current process with argv running inside the network
// namespace at netnsPath, in a private mount namespace where hostsFile (if
// not empty) is bind-mounted on /etc/hosts, as `ip netns exec` does with
// /etc/netns/<name>/hosts. It returns only on failure.
func Exec(netnsPath, hostsFile string, argv, env []string) error {
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
	if hostsFile != "" {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("podnet: exec: mount namespace: %w", err)
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("podnet: exec: make / private: %w", err)
		}
		if err := unix.Mount(hostsFile, "/etc/hosts", "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("podnet: exec: bind %s on /etc/hosts: %w", hostsFile, err)
		}
	}
	err = syscall.Exec(path, argv, env)
	return fmt.Errorf("podnet: exec %s: %w", path, err)
}
