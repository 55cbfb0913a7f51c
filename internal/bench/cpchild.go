package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/halyard-mesh/halyard/internal/bench/cpsim"
)

// cpChild is the control-plane process.
type cpChild struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	hello   cpsim.Hello
	replies chan cpsim.Reply
	exited  chan struct{}
}

// startCPServer starts cpserver and reads its Hello.
func (h *harness) startCPServer(spec cpsim.Spec) (*cpChild, error) {
	logFile, err := os.Create(filepath.Join(h.logs, "cpserver.log"))
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(h.tools.CPServer, "-services", strconv.Itoa(spec.Services), "-versions", strconv.Itoa(spec.Versions))
	cmd.Stderr, cmd.Dir = logFile, h.work
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	c := &cpChild{cmd: cmd, replies: make(chan cpsim.Reply, 4), exited: make(chan struct{})}
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start cpserver: %w", err)
	}
	dec := json.NewDecoder(stdout)
	if err := dec.Decode(&c.hello); err != nil {
		c.stop(time.Second)
		log, _ := os.ReadFile(logFile.Name())
		return nil, fmt.Errorf("bench: cpserver did not start: %w\n%s", err, tail(string(log), 2000))
	}
	go func() {
		defer close(c.exited)
		for {
			var r cpsim.Reply
			if dec.Decode(&r) != nil {
				return
			}
			c.replies <- r
		}
	}()
	return c, nil
}

func (c *cpChild) pid() int { return c.cmd.Process.Pid }

// reply waits for the answer to the last command.
func (c *cpChild) reply(timeout time.Duration) (cpsim.Reply, error) {
	select {
	case r := <-c.replies:
		if r.Error != "" {
			return r, fmt.Errorf("bench: cpserver: %s", r.Error)
		}
		return r, nil
	case <-c.exited:
		return cpsim.Reply{}, fmt.Errorf("bench: cpserver exited (see logs/cpserver.log)")
	case <-time.After(timeout):
		return cpsim.Reply{}, fmt.Errorf("bench: the control plane did not finish its push within %s", timeout)
	}
}

// stop closes cpserver's input (it then exits) and kills its process
// group if it is still there after grace.
func (c *cpChild) stop(grace time.Duration) {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		killGroup(c.pid(), syscall.SIGKILL)
		<-done
	}
}

// childWatch samples the control plane's CPU time and RSS while a push
// runs, and kills it when its RSS passes the limit, so that a control
// plane that does not scale cannot take the machine down.
type childWatch struct {
	ctx    context.Context // ended when the watch stops or kills the child
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	first  procSample
	last   procSample
	killed bool
}

func watchChild(ctx context.Context, c *cpChild, limitBytes int64) (*childWatch, error) {
	first, err := readProc(c.pid())
	if err != nil {
		return nil, err
	}
	w := &childWatch{first: first, last: first, done: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(ctx)
	go w.run(c, limitBytes)
	return w, nil
}

func (w *childWatch) run(c *cpChild, limitBytes int64) {
	defer close(w.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-tick.C:
		}
		s, err := readProc(c.pid())
		if err != nil {
			return
		}
		w.mu.Lock()
		w.last = s
		over := s.RSS > limitBytes
		w.killed = over
		w.mu.Unlock()
		if over {
			killGroup(c.pid(), syscall.SIGKILL)
			w.cancel()
			return
		}
	}
}

// stop ends the watch and returns the CPU time used since it began, the
// peak RSS seen, and whether it killed the control plane.
func (w *childWatch) stop(c *cpChild) (cpu time.Duration, peak int64, killed bool) {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, err := readProc(c.pid()); err == nil && !w.killed {
		w.last = s
	}
	return w.last.CPU - w.first.CPU, max(w.last.PeakRSS, w.last.RSS), w.killed
}
