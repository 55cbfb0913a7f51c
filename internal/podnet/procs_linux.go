package podnet

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// killNetnsProcesses kills (SIGKILL) every process whose network
// namespace is the one bound at path, as `ip netns pids` finds them: the
// namespace file and /proc/<pid>/ns/net name the same inode. A process of
// a pod that outlived its mesh (restarted while `halyard up` was being
// killed, say) is found this way even when no state file names it.
func killNetnsProcesses(path string) ([]int, error) {
	var ns syscall.Stat_t
	if err := syscall.Stat(path, &ns); err != nil {
		return nil, fmt.Errorf("podnet: %s: %w", path, err)
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("podnet: %w", err)
	}
	var killed []int
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name()+"/ns/net", &st) != nil || st.Ino != ns.Ino || st.Dev != ns.Dev {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed = append(killed, pid)
		}
	}
	return killed, nil
}
