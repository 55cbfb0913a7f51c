package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/local"
)

// mesh is a running `halyard up -d` for one test.
type mesh struct {
	t        *testing.T
	dir      string // the config directory
	stateDir string
	state    *local.State
}

// startMesh starts an explicit-mode mesh (see startMeshWith), with extra
// flags for `halyard up`.
func startMesh(t *testing.T, files map[string]string, upFlags ...string) *mesh {
	t.Helper()
	return startMeshWith(t, files, append([]string{"--capture", "explicit"}, upFlags...)...)
}

// startMeshWith copies the files (name -> content; a content starting with
// "@" names a file to copy from the repository) into a fresh config
// directory and starts a mesh on free ports with the extra `halyard up`
// arguments. It is stopped when the test ends,
// and the test fails if any of its processes outlives `halyard down`.
func startMeshWith(t *testing.T, files map[string]string, upArgs ...string) *mesh {
	t.Helper()
	m := &mesh{t: t, dir: filepath.Join(t.TempDir(), "config"), stateDir: filepath.Join(t.TempDir(), "state")}
	if err := os.MkdirAll(m.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if src, ok := strings.CutPrefix(content, "@"); ok {
			b, err := os.ReadFile(filepath.Join("../..", src))
			if err != nil {
				t.Fatal(err)
			}
			content = string(b)
		}
		m.write(name, content)
	}
	args := append([]string{"up", "-d", "-f", m.dir,
		"--xds-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0", "--ca-address", "127.0.0.1:0", "--ready-timeout", "60s"},
		upArgs...)
	out, err := m.halyard(context.Background(), args...)
	if err != nil {
		t.Fatalf("halyard up -d: %v\n%s", err, out)
	}
	t.Cleanup(m.stop)
	st, err := local.ReadState(m.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	m.state = st
	return m
}

func (m *mesh) halyard(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, halyardBin(), append([]string{"--state-dir", m.stateDir}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// stop runs `halyard down` and checks that no process of the mesh is left.
func (m *mesh) stop() {
	st, _ := local.ReadState(m.stateDir)
	if out, err := m.halyard(context.Background(), "down"); err != nil {
		m.t.Errorf("halyard down: %v\n%s", err, out)
	}
	if st == nil {
		return
	}
	for _, p := range st.Pods {
		for _, pid := range p.PIDs {
			if local.Alive(pid) {
				m.t.Errorf("process %d of pod %s still running after halyard down", pid, p.Name)
			}
		}
	}
	if local.Alive(st.PID) {
		m.t.Errorf("halyard up (pid %d) still running after halyard down", st.PID)
	}
	if m.t.Failed() {
		m.t.Logf("halyard up output:\n%s", m.log())
	}
}

// write replaces a config file in place, as an editor saving it would.
func (m *mesh) write(name, content string) {
	m.t.Helper()
	if err := os.WriteFile(filepath.Join(m.dir, name), []byte(content), 0o644); err != nil {
		m.t.Fatal(err)
	}
}

// log returns what `halyard up` printed so far.
func (m *mesh) log() string {
	b, _ := os.ReadFile(filepath.Join(m.stateDir, "up.log"))
	return string(b)
}

// waitLog waits until up's output contains every string, or fails.
func (m *mesh) waitLog(timeout time.Duration, want ...string) string {
	m.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := m.log()
		missing := ""
		for _, w := range want {
			if !strings.Contains(got, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return got
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("halyard up did not print %q within %s; output:\n%s", missing, timeout, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client returns an HTTP client whose requests go through a pod's sidecar,
// as an application's would with HTTP_PROXY set.
func (m *mesh) client(pod string) *http.Client {
	m.t.Helper()
	p, ok := m.state.Pod(pod)
	if !ok {
		m.t.Fatalf("no pod %q in the mesh", pod)
	}
	proxy := &url.URL{Scheme: "http", Host: p.OutboundAddress}
	return &http.Client{
		Transport: &http.Transport{Proxy: http.ProxyURL(proxy), MaxIdleConnsPerHost: 64},
		Timeout:   10 * time.Second,
	}
}

// reply is the part of the sample app's JSON reply the tests read.
type reply struct {
	Service  string `json:"service"`
	Version  string `json:"version"`
	Instance string `json:"instance"`
	Calls    []struct {
		URL     string `json:"url"`
		Status  int    `json:"status"`
		Service string `json:"service"`
		Version string `json:"version"`
		Error   string `json:"error"`
	} `json:"calls"`
}

// get sends one request and returns the status, the X-Sample-Version header
// and the body.
func get(c *http.Client, rawURL string, header http.Header) (int, string, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, "", nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Sample-Version"), body, err
}

// countVersions sends n requests and counts replies per version; any error
// or non-200 status fails the test.
func countVersions(t *testing.T, c *http.Client, rawURL string, header http.Header, n int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := range n {
		status, version, body, err := get(c, rawURL, header)
		if err != nil || status != http.StatusOK {
			t.Fatalf("request %d to %s: status %d, error %v, body %s", i, rawURL, status, err, body)
		}
		counts[version]++
	}
	return counts
}

func percent(part, total int) float64 { return 100 * float64(part) / float64(total) }

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

var _ = fmt.Sprint
