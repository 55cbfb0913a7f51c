package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/local"
)

// TestHAProxyConfig checks the generated configurations with `haproxy -c`.
func TestHAProxyConfig(t *testing.T) {
	path, err := haproxyPath()
	if err != nil {
		t.Skip(err)
	}
	for _, c := range []haproxyConfig{
		{Listen: "127.0.0.1:18090", Upstream: "127.0.0.1:18091"},
		{Listen: "127.0.0.1:18090", Upstream: "127.0.0.1:18091", Threads: 1},
	} {
		file := filepath.Join(t.TempDir(), "haproxy.cfg")
		if err := os.WriteFile(file, []byte(c.render()), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := runCommand(ctx, []string{path, "-c", "-f", file}, os.Environ(), t.TempDir())
		cancel()
		if err != nil {
			t.Errorf("haproxy -c rejects %+v: %v\n%s\n%s", c, err, out, c.render())
		}
		if hasThreads := strings.Contains(c.render(), "nbthread 1"); hasThreads != (c.Threads == 1) {
			t.Errorf("nbthread in %+v: %v", c, hasThreads)
		}
	}
}

// TestMeshYAML loads the generated mesh with Halyard's own config loader.
func TestMeshYAML(t *testing.T) {
	for _, sidecar := range []bool{true, false} {
		cfg, diags := config.Parse("fortio.yaml", []byte(meshYAML("/opt/fortio", "/tmp/data", sidecar)))
		if cfg == nil || len(diags) > 0 {
			t.Fatalf("sidecar=%v: %v", sidecar, diags)
		}
		if len(cfg.Services) != 1 || len(cfg.Deployments) != 1 {
			t.Fatalf("%d services, %d deployments", len(cfg.Services), len(cfg.Deployments))
		}
		tmpl := cfg.Deployments[0].Spec.Template
		if got := tmpl.Annotations[local.InjectAnnotation]; (got == "false") == sidecar {
			t.Errorf("sidecar=%v: inject annotation %q", sidecar, got)
		}
		cmd := strings.Join(tmpl.Spec.Containers[0].Command, " ")
		if !strings.HasPrefix(cmd, "/opt/fortio server -http-port 127.0.0.1:$(PORT) -grpc-port disabled") {
			t.Errorf("command %q", cmd)
		}
	}
}

// TestProxyWrapper runs the wrapper script around env(1): it must set the
// environment, the CPU affinity and keep the arguments.
func TestProxyWrapper(t *testing.T) {
	env, err := exec.LookPath("env")
	if err != nil {
		t.Skip(err)
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip(err)
	}
	cpus := allowedCPUs()
	last := strconv.Itoa(cpus[len(cpus)-1])
	script := filepath.Join(t.TempDir(), "wrapper")
	if err := os.WriteFile(script, []byte(proxyWrapper(env, "GOMAXPROCS=1", last)), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(script, "sh", "-c", `echo "$GOMAXPROCS $1"; taskset -cp $$`, "sh", "--node-id").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if lines[0] != "1 --node-id" || !strings.HasSuffix(lines[1], ": "+last) {
		t.Errorf("wrapper output:\n%s", out)
	}
}
