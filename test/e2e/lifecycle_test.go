package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/local"
)

// TestKilledUpThenDownLeavesNothing kills `halyard up` with SIGKILL: its
// processes die with it, and `halyard down` cleans up the state.
func TestKilledUpThenDownLeavesNothing(t *testing.T) {
	m := startMesh(t, map[string]string{"grpc.yaml": grpcEcho})
	st, err := local.ReadState(m.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range st.Pods {
		pids = append(pids, p.PIDs...)
	}
	if len(pids) < 7 { // 3 pods x (app + sidecar) + the exec sidecar
		t.Fatalf("only %d processes recorded: %+v", len(pids), st.Pods)
	}
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	out, err := m.halyard(context.Background(), "down")
	if err != nil {
		t.Fatalf("halyard down: %v\n%s", err, out)
	}
	waitFor(t, 5*time.Second, func() bool {
		for _, pid := range pids {
			if local.Alive(pid) && !zombie(pid) {
				return false
			}
		}
		return true
	})
	t.Logf("%d processes gone after SIGKILL of halyard up and halyard down: %s", len(pids), strings.TrimSpace(out))
	if _, err := os.Stat(filepath.Join(m.stateDir, "mesh.json")); !os.IsNotExist(err) {
		t.Errorf("state file left behind: %v", err)
	}
}

// zombie reports whether pid is a process that exited but was not reaped.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] == 'Z'
}

// TestUpDetachedReportsFailures checks that `halyard up -d` exits non-zero
// with the reason when the config is invalid or a workload cannot start,
// and leaves nothing running.
func TestUpDetachedReportsFailures(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"invalid config", strings.Replace(grpcEcho, "replicas: 3", "replicas: three", 1),
			[]string{"grpc.yaml:18", "Deployment/default/grpc-echo", "spec.replicas", "configuration has errors"}},
		{"command not found", strings.Replace(grpcEcho, `command: ["halyard", "sample"`, `command: ["no-such-binary-here"`, 1),
			[]string{"no-such-binary-here", "executable file not found"}},
		{"never ready", strings.Replace(grpcEcho, `"--port", "$(PORT)"`, `"--port", "1"`, 1),
			[]string{"not ready after 3s", "default/grpc-echo-0", "the mesh was stopped"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, stateDir := t.TempDir(), t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "grpc.yaml"), []byte(c.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			m := &mesh{t: t, dir: dir, stateDir: stateDir}
			out, err := m.halyard(context.Background(), "up", "-d", "-f", dir,
				"--xds-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0", "--ca-address", "127.0.0.1:0", "--ready-timeout", "3s",
				"--capture", "explicit")
			if err == nil {
				m.halyard(context.Background(), "down")
				t.Fatalf("halyard up -d succeeded; output:\n%s", out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if st, err := local.ReadState(stateDir); err == nil && local.Alive(st.PID) {
				t.Errorf("mesh still running (pid %d) after a failed start", st.PID)
				m.halyard(context.Background(), "down")
			}
		})
	}
}

// TestServiceEntryStatic routes mesh traffic to a service outside the mesh
// declared by a STATIC ServiceEntry.
func TestServiceEntryStatic(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Sample-Version", "external")
		fmt.Fprintf(w, "host=%s path=%s", r.Host, r.URL.Path)
	}))
	defer backend.Close()
	_, port, _ := net.SplitHostPort(backend.Listener.Addr().String())
	se := `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: payments
spec:
  hosts:
  - payments.example.com
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - number: 8080
    name: http
    protocol: HTTP
  endpoints:
  - address: 127.0.0.1
    ports:
      http: ` + port + "\n"
	m := startMesh(t, map[string]string{"se.yaml": se})
	c := m.client("halyard-exec")
	status, version, body, err := get(c, "http://payments.example.com:8080/charge", nil)
	if err != nil || status != 200 || version != "external" {
		t.Fatalf("status %d version %q err %v body %s", status, version, err, body)
	}
	if !strings.Contains(string(body), "host=payments.example.com:8080 path=/charge") {
		t.Errorf("backend saw %s", body)
	}
}
