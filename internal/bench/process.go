package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// proc is a long-running process the harness started in its own process
// group; stop ends the whole group.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // valid once done is closed
}

// startProc starts argv in its own process group, output to logPath. The
// process gets SIGKILL if the harness dies.
func startProc(name string, argv, env []string, dir, logPath string) (*proc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", name, err)
	}
	defer logFile.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// PID is the process id (also its process group id).
func (p *proc) PID() int { return p.cmd.Process.Pid }

// stop sends SIGTERM to the process group and SIGKILL after grace, and
// waits for the process to exit.
func (p *proc) stop(grace time.Duration) {
	killGroup(p.PID(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		killGroup(p.PID(), syscall.SIGKILL)
		<-p.done
	}
	killGroup(p.PID(), syscall.SIGKILL) // anything left in the group
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logTail returns the end of the process's output.
func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	return tail(string(b), 4000)
}

func killGroup(pgid int, sig syscall.Signal) {
	if pgid > 0 {
		_ = syscall.Kill(-pgid, sig)
	}
}

// runCommand runs argv to completion in its own process group and returns
// its combined output; when ctx ends, the whole group is killed.
func runCommand(ctx context.Context, argv, env []string, dir string) (string, error) {
	out, _, err := runCommandCPU(ctx, argv, env, dir)
	return out, err
}

// runCommandCPU is runCommand that also returns the CPU time (user and
// system) the process used.
func runCommandCPU(ctx context.Context, argv, env []string, dir string) (string, time.Duration, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		killGroup(cmd.Process.Pid, syscall.SIGKILL)
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	var cpu time.Duration
	if ps := cmd.ProcessState; ps != nil {
		cpu = ps.UserTime() + ps.SystemTime()
	}
	return out.String(), cpu, err
}

// cleanups runs registered functions in reverse order.
type cleanups struct{ fns []func() }

func (c *cleanups) add(f func()) { c.fns = append(c.fns, f) }

func (c *cleanups) run() {
	for i := len(c.fns) - 1; i >= 0; i-- {
		c.fns[i]()
	}
	c.fns = nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitListening waits until addr accepts connections, p exits, or the
// timeout passes.
func waitListening(ctx context.Context, p *proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		switch {
		case p != nil && p.exited():
			return fmt.Errorf("bench: %s exited before listening on %s: %v\n%s", p.name, addr, p.err, p.logTail())
		case time.Now().After(deadline):
			return fmt.Errorf("bench: nothing listens on %s after %s: %w", addr, timeout, err)
		case ctx.Err() != nil:
			return fmt.Errorf("bench: %w", ctx.Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
