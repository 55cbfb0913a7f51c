// Package promtest runs a real Prometheus server (the Debian package
// prometheus) for tests: scraping the targets of a file_sd file every
// second, with its data in a temporary directory, and answers queries.
package promtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// ErrNoPrometheus means the prometheus binary is not on PATH.
var ErrNoPrometheus = errors.New("promtest: prometheus not found (Debian package prometheus)")

// Server is a running Prometheus.
type Server struct {
	Addr string // host:port of its HTTP API
	cmd  *exec.Cmd
	done chan error
}

const configTemplate = `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
- job_name: halyard
  file_sd_configs:
  - files: [%q]
    refresh_interval: 1s
`

// Start runs Prometheus with its config and data under dir, scraping the
// targets listed in targetsFile, and waits until it is ready.
func Start(ctx context.Context, dir, targetsFile string) (*Server, error) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		return nil, ErrNoPrometheus
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, configTemplate, targetsFile), 0o644); err != nil {
		return nil, fmt.Errorf("promtest: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), done: make(chan error, 1)}
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		return nil, fmt.Errorf("promtest: %w", err)
	}
	defer log.Close()
	s.cmd = exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+s.Addr, "--log.level=warn")
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("promtest: %w", err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		b, _ := os.ReadFile(log.Name())
		return nil, fmt.Errorf("%w\n%s", err, b)
	}
	return s, nil
}

// freePort picks a port the kernel says is free.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("promtest: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		resp, err := http.Get("http://" + s.Addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-s.done:
			return fmt.Errorf("promtest: prometheus exited: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("promtest: prometheus not ready: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop ends Prometheus and waits for it.
func (s *Server) Stop() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Result is one series of an instant query.
type Result struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // [time, "value"]
}

// Query runs an instant query.
func (s *Server) Query(ctx context.Context, q string) ([]Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Addr+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return nil, fmt.Errorf("promtest: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("promtest: query: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("promtest: query %q: %w", q, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("promtest: query %q: %s", q, body.Error)
	}
	if body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("promtest: query %q: result type %s, want vector", q, body.Data.ResultType)
	}
	var out []Result
	if err := json.Unmarshal(body.Data.Result, &out); err != nil {
		return nil, fmt.Errorf("promtest: query %q: %w", q, err)
	}
	return out, nil
}

// Up returns the number of targets of a job that are up.
func (s *Server) Up(ctx context.Context, job string) (int, error) {
	res, err := s.Query(ctx, fmt.Sprintf(`sum(up{job=%q})`, job))
	if err != nil || len(res) == 0 {
		return 0, err
	}
	v, _ := res[0].Value[1].(string)
	n, _ := strconv.ParseFloat(v, 64)
	return int(n), nil
}
