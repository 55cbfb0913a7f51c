package bench

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/halyard-mesh/halyard/internal/local"
)

// The mesh's service: fortio's echo server as a Deployment, reached by
// clients as fortio:8080.
const (
	meshService = "fortio"
	meshPort    = 8080
	meshHost    = "fortio:8080"
)

// meshOptions shape one `halyard up` for the bench.
type meshOptions struct {
	Name       string // directory name under the work dir
	Sidecar    bool   // does the fortio pod get a sidecar
	UpCPUs     string // taskset CPUs for `halyard up` and so its containers ("" for none)
	SidecarEnv string // e.g. "GOMAXPROCS=1": run sidecars through a wrapper setting it
	ProxyCPUs  string // taskset CPUs for the sidecars, through the same wrapper
	Capture    string // "explicit" (the default) or "transparent"
}

// meshRun is a running mesh: its state file and the processes the bench
// measures.
type meshRun struct {
	state       *local.State
	stateDir    string
	client      local.PodState // halyard-exec, the client sidecar
	clientProxy int            // its halyard-proxy pid
	serverProxy int            // the fortio pod's halyard-proxy pid (0 without sidecar)
	app         int            // the fortio pod's fortio server pid
}

// meshYAML is the configuration `halyard up` runs: fortio's server as the
// only workload, listening on the port the runner allocates.
func meshYAML(fortio, dataDir string, sidecar bool) string {
	args := fortioServerArgs(fortio, "127.0.0.1:$(PORT)", dataDir)
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	inject := ""
	if !sidecar {
		inject = "\n      annotations:\n        sidecar.istio.io/inject: \"false\""
	}
	return fmt.Sprintf(`# Written by Halyard's bench (internal/bench).
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  selector:
    app: %[1]s
  ports:
  - name: http
    port: %[2]d
    targetPort: %[2]d
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: 1
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
        version: v1%[3]s
    spec:
      containers:
      - name: %[1]s
        image: fortio/fortio
        command: [%[4]s]
        ports:
        - name: http
          containerPort: %[2]d
`, meshService, meshPort, inject, strings.Join(quoted, ", ")) + trafficPolicyYAML
}

// trafficPolicyYAML is what a team running Istio typically puts on a
// service, so that the bench measures the sidecar with the resilience
// features configured: a route timeout, retries with a per-try timeout,
// a subset, LEAST_REQUEST balancing, HTTP circuit breakers and outlier
// detection. None of it changes what a healthy upstream answers.
const trafficPolicyYAML = `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ` + meshService + `
spec:
  hosts: [` + meshService + `]
  http:
  - timeout: 10s
    retries:
      attempts: 2
      perTryTimeout: 5s
      retryOn: 5xx,connect-failure,refused-stream
    route:
    - destination:
        host: ` + meshService + `
        subset: v1
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ` + meshService + `
spec:
  host: ` + meshService + `
  trafficPolicy:
    loadBalancer: {simple: LEAST_REQUEST}
    connectionPool:
      http: {http1MaxPendingRequests: 1024, http2MaxRequests: 1024, maxRetries: 64}
    outlierDetection:
      consecutive5xxErrors: 5
      interval: 10s
      baseEjectionTime: 30s
      maxEjectionPercent: 100
  subsets:
  - name: v1
    labels: {version: v1}
`

// proxyWrapper is a script `halyard up` runs as its proxy binary: it sets
// the sidecar's environment and CPU affinity, then becomes halyard-proxy
// (same pid).
func proxyWrapper(proxy, env, cpus string) string {
	cmd := fmt.Sprintf("exec %q \"$@\"", proxy)
	if cpus != "" {
		cmd = fmt.Sprintf("exec taskset -c %s %q \"$@\"", cpus, proxy)
	}
	if env != "" {
		cmd = "export " + env + "\n" + cmd
	}
	return "#!/bin/sh\n# Written by Halyard's bench (internal/bench).\n" + cmd + "\n"
}

// startMesh runs `halyard up -d` on free ports with the fortio workload and
// returns once every pod is ready; cl stops it (`halyard down`, then any
// leftover process group).
func (h *harness) startMesh(ctx context.Context, cl *cleanups, o meshOptions) (*meshRun, error) {
	dir := filepath.Join(h.work, o.Name)
	cfgDir, stateDir, dataDir := filepath.Join(dir, "config"), filepath.Join(dir, "state"), filepath.Join(dir, "data")
	for _, d := range []string{cfgDir, stateDir, dataDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "fortio.yaml"), []byte(meshYAML(h.tools.Fortio, dataDir, o.Sidecar)), 0o644); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	proxyBin := h.tools.Proxy
	if o.SidecarEnv != "" || o.ProxyCPUs != "" {
		proxyBin = filepath.Join(dir, "halyard-proxy-wrapper")
		if err := os.WriteFile(proxyBin, []byte(proxyWrapper(h.tools.Proxy, o.SidecarEnv, o.ProxyCPUs)), 0o755); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	cl.add(func() { h.stopMesh(stateDir) })
	argv := pinned(o.UpCPUs, h.tools.Halyard, "--state-dir", stateDir, "up", "-d", "-f", cfgDir,
		"--xds-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0", "--ca-address", "127.0.0.1:0",
		"--proxy-binary", proxyBin, "--ready-timeout", "60s",
		"--capture", cmp.Or(o.Capture, "explicit"))
	upCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if out, err := runCommand(upCtx, argv, os.Environ(), dataDir); err != nil {
		return nil, fmt.Errorf("bench: halyard up (%s): %w\n%s", o.Name, err, tail(out, 4000))
	}
	st, err := local.ReadState(stateDir)
	if err != nil {
		return nil, fmt.Errorf("bench: mesh %s: %w", o.Name, err)
	}
	m, err := meshFromState(st, o.Sidecar)
	if m != nil {
		m.stateDir = stateDir
	}
	return m, err
}

// meshFromState finds the client sidecar and the proxies' pids.
func meshFromState(st *local.State, serverSidecar bool) (*meshRun, error) {
	m := &meshRun{state: st}
	client, ok := st.Pod("default/halyard-exec")
	if !ok || (client.OutboundAddress == "" && client.Netns == "") { // transparent pods have no outbound address
		return nil, fmt.Errorf("bench: the mesh has no halyard-exec client sidecar")
	}
	m.client = *client
	m.clientProxy = proxyPID(client.PIDs)
	server, ok := st.Pod(meshService)
	if !ok {
		return nil, fmt.Errorf("bench: the mesh has no ready %s pod", meshService)
	}
	m.app = pidOf(server.PIDs, "fortio")
	if serverSidecar {
		m.serverProxy = proxyPID(server.PIDs)
		if m.serverProxy == 0 {
			return nil, fmt.Errorf("bench: no halyard-proxy among the %s pod's processes %v", meshService, server.PIDs)
		}
	}
	if m.app == 0 {
		return nil, fmt.Errorf("bench: no fortio among the %s pod's processes %v", meshService, server.PIDs)
	}
	if m.clientProxy == 0 {
		return nil, fmt.Errorf("bench: no halyard-proxy among the client pod's processes %v", client.PIDs)
	}
	return m, nil
}

// proxyPID returns the pid whose command is halyard-proxy (0 if none).
func proxyPID(pids []int) int { return pidOf(pids, "halyard-proxy") }

// pidOf returns the pid whose command name is comm (0 if none).
func pidOf(pids []int, comm string) int {
	for _, pid := range pids {
		if procComm(pid) == comm {
			return pid
		}
	}
	return 0
}

// stopMesh runs `halyard down` and kills any process of the mesh left.
func (h *harness) stopMesh(stateDir string) {
	st, _ := local.ReadState(stateDir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := runCommand(ctx, []string{h.tools.Halyard, "--state-dir", stateDir, "down"}, os.Environ(), stateDir); err != nil {
		h.log.Warn("halyard down failed", "error", err, "output", out)
	}
	if st == nil {
		return
	}
	// Everything of the mesh runs in process groups led by these pids.
	pids := []int{st.PID}
	for _, p := range st.Pods {
		pids = append(pids, p.PIDs...)
	}
	for _, pid := range pids {
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
			h.log.Warn("killing a process group the mesh left behind", "pgid", pid)
			killGroup(pid, syscall.SIGKILL)
		}
	}
}
