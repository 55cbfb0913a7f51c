package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/capture"
	"github.com/halyard-mesh/halyard/internal/local"
	"github.com/halyard-mesh/halyard/internal/podnet"
)

// Transparent mode: every pod in its own network namespace, its TCP
// captured into its sidecar, service names resolving to virtual IPs.

// needTransparent skips when transparent capture cannot run (CI runs as root).
func needTransparent(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("transparent capture needs root")
	}
}

// transparentMeshes counts the meshes of this run, for unique pod ranges.
var transparentMeshes int

// startTransparent starts a transparent mesh on a pod range of its own and
// checks, when the test ends, that no namespace or link of it is left.
func startTransparent(t *testing.T, files map[string]string) (*mesh, string) {
	t.Helper()
	needTransparent(t)
	transparentMeshes++
	// 198.18.1-9.x: apart from the podnet and capture unit tests' ranges.
	cidr := fmt.Sprintf("198.18.%d.0/24", 1+(os.Getpid()+transparentMeshes)%9)
	m := startMeshWith(t, files, "--capture", "transparent", "--pod-cidr", cidr)
	if m.state.Capture != "transparent" || m.state.NetPrefix == "" {
		t.Fatalf("state: capture %q, prefix %q; want transparent with a prefix", m.state.Capture, m.state.NetPrefix)
	}
	prefix := m.state.NetPrefix
	t.Cleanup(func() {
		m.stop() // before the check (cleanups run last-registered first)
		assertNothingLeft(t, prefix)
	})
	gw := strings.TrimSuffix(cidr, "0/24") + "1"
	return m, gw
}

// assertNothingLeft fails if a namespace or link named with the prefix
// exists (run after `halyard down`).
func assertNothingLeft(t *testing.T, prefix string) {
	t.Helper()
	left, err := podnet.Leftovers(prefix)
	if err != nil {
		t.Error(err)
	}
	if len(left) > 0 {
		t.Errorf("left behind by mesh %s: %v", prefix, left)
	}
}

// inPod runs a shell command inside a pod of the mesh with `halyard exec`.
func (m *mesh) inPod(as, script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"exec"}
	if as != "" {
		args = append(args, "--as", as)
	}
	return m.halyard(ctx, append(args, "--", "sh", "-c", script)...)
}

const reviewsTransparent = `apiVersion: v1
kind: Service
metadata:
  name: reviews
spec:
  selector: {app: reviews}
  ports:
  - name: http
    port: 9080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews-v1
spec:
  selector: {matchLabels: {app: reviews, version: v1}}
  template:
    metadata:
      labels: {app: reviews, version: v1}
    spec:
      containers:
      - name: reviews
        command: ["halyard", "sample", "--service", "reviews", "--version", "v1", "--port", "$(PORT)"]
        ports: [{containerPort: 9080}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews-v2
spec:
  selector: {matchLabels: {app: reviews, version: v2}}
  template:
    metadata:
      labels: {app: reviews, version: v2}
    spec:
      containers:
      - name: reviews
        command: ["halyard", "sample", "--service", "reviews", "--version", "v2", "--port", "$(PORT)"]
        ports: [{containerPort: 9080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 70}
    - {destination: {host: reviews, subset: v2}, weight: 30}
`

// TestTransparentCurlFollowsVirtualService: an unmodified curl inside a pod
// (no proxy variables) reaches reviews by its short name, and the
// VirtualService's 70/30 split holds over 200 requests.
func TestTransparentCurlFollowsVirtualService(t *testing.T) {
	m, _ := startTransparent(t, map[string]string{"reviews.yaml": reviewsTransparent})
	const n = 200
	out, err := m.inPod("", fmt.Sprintf(`env | grep -i _proxy; for i in $(seq %d); do curl -s -m 5 -o /dev/null -w '%%{http_code} %%header{x-sample-version}\n' http://reviews:9080/; done`, n))
	if err != nil {
		t.Fatalf("halyard exec: %v\n%s", err, out)
	}
	counts := map[string]int{}
	for line := range strings.Lines(out) {
		if strings.Contains(strings.ToLower(line), "_proxy=") {
			t.Fatalf("the pod's environment has a proxy variable: %s", line)
		}
		counts[strings.TrimSpace(line)]++
	}
	v1, v2 := counts["200 v1"], counts["200 v2"]
	t.Logf("curl http://reviews:9080/ x%d from a pod: %v", n, counts)
	if v1+v2 != n {
		t.Fatalf("only %d of %d requests were answered 200 by v1 or v2: %v", v1+v2, n, counts)
	}
	if p := percent(v2, n); p < 20 || p > 40 {
		t.Errorf("v2 got %.1f%%, want 30%% (±10)", p)
	}
	// The same names resolve in every form.
	for _, host := range []string{"reviews.default", "reviews.default.svc.cluster.local"} {
		out, err := m.inPod("", "curl -s -m 5 -o /dev/null -w '%{http_code}' http://"+host+":9080/")
		if err != nil || out != "200" {
			t.Errorf("curl http://%s:9080/: %q, %v", host, out, err)
		}
	}
	// Istio's stats and health ports answer on every pod's IP, from the host.
	for _, p := range m.state.Pods {
		if p.AdminAddress == "" {
			continue
		}
		if p.StatsAddress != p.IP+":15090" || p.HealthAddress != p.IP+":15021" {
			t.Errorf("pod %s: stats %s, health %s; want %s:15090 and %s:15021", p.Name, p.StatsAddress, p.HealthAddress, p.IP, p.IP)
			continue
		}
		if code, body := fetch(t, "http://"+p.HealthAddress+"/healthz/ready"); code != 200 || body != "LIVE\n" {
			t.Errorf("pod %s health port: %d %q", p.Name, code, body)
		}
		if code, body := fetch(t, "http://"+p.StatsAddress+"/stats/prometheus"); code != 200 || !strings.Contains(body, "istio_") {
			t.Errorf("pod %s stats port: %d, %d bytes", p.Name, code, len(body))
		}
	}
}

// tcpEchoEnv makes the test binary a raw TCP server on $PORT: it writes
// "peer=<address of the connection's peer>\n", then echoes.
const tcpEchoEnv = "HALYARD_E2E_TCP_ECHO"

func tcpEchoMain() int {
	ln, err := net.Listen("tcp", ":"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		go func() {
			defer c.Close()
			fmt.Fprintf(c, "peer=%s\n", c.RemoteAddr())
			_, _ = io.Copy(c, c)
		}()
	}
}

func echoYAML(name string, port int, annotations string) string {
	self, _ := os.Executable()
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  selector: {app: %[1]s}
  ports:
  - name: tcp-echo
    port: %[2]d
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata:
      labels: {app: %[1]s}
      annotations: {%[3]s}
    spec:
      containers:
      - name: echo
        command: [%[4]q]
        env: [{name: %[5]s, value: "1"}]
        ports: [{containerPort: %[2]d}]
`, name, port, annotations, self, tcpEchoEnv)
}

// TestTransparentTCPEchoAndExcludedPort: raw TCP from the client pod
// crosses two sidecars (the server sees its own sidecar, 127.0.0.1), while
// a server whose port is excluded from inbound capture sees the client
// pod's address directly.
func TestTransparentTCPEchoAndExcludedPort(t *testing.T) {
	m, _ := startTransparent(t, map[string]string{
		"echo.yaml":   echoYAML("echo", 9000, ""),
		"direct.yaml": echoYAML("direct", 9001, `traffic.sidecar.istio.io/excludeInboundPorts: "9001"`),
	})
	client, _ := m.state.Pod("default/halyard-exec")
	peer, echoed := m.echo(client, "echo", "9000", "hello through two sidecars")
	if peer != "127.0.0.1" || echoed != "hello through two sidecars" {
		t.Fatalf("echo: peer %q, echoed %q; want the server's sidecar (127.0.0.1) and the bytes back", peer, echoed)
	}
	peer, echoed = m.echo(client, "direct", "9001", "around the server's sidecar")
	if peer != client.IP || echoed != "around the server's sidecar" {
		t.Fatalf("excluded port: peer %q, echoed %q; want the client pod %s", peer, echoed, client.IP)
	}
	t.Logf("echo saw %s (its sidecar); the excluded port saw %s (the client pod)", "127.0.0.1", client.IP)

	// The echo server's sidecar counts the connection in Istio's TCP
	// metrics (they are updated when the connection closes).
	server, _ := m.state.Pod("echo")
	want := map[string]string{"reporter": "destination", "destination_workload": "echo"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		samples := scrape(t, server.AdminAddress)
		closed := sum(samples, "istio_tcp_connections_closed_total", want)
		received := sum(samples, "istio_tcp_received_bytes_total", want)
		if closed >= 1 && received >= float64(len("hello through two sidecars")) {
			t.Logf("echo's sidecar: %.0f TCP connection closed, %.0f bytes received", closed, received)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("echo's sidecar counted %.0f closed TCP connections and %.0f bytes received, want 1 and %d", closed, received, len("hello through two sidecars"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// echo connects from inside the pod's namespace to service:port by its
// virtual IP, sends msg and returns the peer the server saw and the echo.
func (m *mesh) echo(pod *local.PodState, service, port, msg string) (peer, echoed string) {
	m.t.Helper()
	ip := hostsLookup(m.t, pod.HostsFile, service)
	var c net.Conn
	err := podnet.InNetns(pod.Netns, func() (err error) {
		c, err = net.DialTimeout("tcp", net.JoinHostPort(ip, port), 5*time.Second)
		return err
	})
	if err != nil {
		m.t.Fatalf("dial %s:%s from %s: %v", service, port, pod.Name, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		m.t.Fatalf("%s: no greeting: %v", service, err)
	}
	host, _, _ := net.SplitHostPort(strings.TrimSpace(strings.TrimPrefix(line, "peer=")))
	fmt.Fprint(c, msg)
	c.(*net.TCPConn).CloseWrite()
	rest, _ := io.ReadAll(br)
	return host, string(rest)
}

func hostsLookup(t *testing.T, file, name string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		for _, n := range f[min(1, len(f)):] {
			if n == name {
				return f[0]
			}
		}
	}
	t.Fatalf("%s not in %s:\n%s", name, file, b)
	return ""
}

const outboundPolicyYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: open
spec:
  selector: {matchLabels: {app: open}}
  template:
    metadata:
      labels: {app: open}
    spec:
      containers:
      - name: app
        command: ["halyard", "sample", "--service", "open", "--port", "$(PORT)"]
        ports: [{containerPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: closed
spec:
  selector: {matchLabels: {app: closed}}
  template:
    metadata:
      labels: {app: closed}
    spec:
      containers:
      - name: app
        command: ["halyard", "sample", "--service", "closed", "--port", "$(PORT)"]
        ports: [{containerPort: 8080}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: closed
spec:
  workloadSelector:
    labels: {app: closed}
  outboundTrafficPolicy:
    mode: REGISTRY_ONLY
`

// TestTransparentOutboundTrafficPolicy: an address outside the registry
// (a server on the host, reached over the bridge) is passed through for a
// pod under the mesh's ALLOW_ANY and refused for one whose Sidecar says
// REGISTRY_ONLY.
func TestTransparentOutboundTrafficPolicy(t *testing.T) {
	needTransparent(t)
	var hits atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		io.WriteString(w, "outside")
	})}
	m, gw := startTransparent(t, map[string]string{"policy.yaml": outboundPolicyYAML})
	ln, err := net.Listen("tcp", gw+":0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/"

	out, err := m.inPod("open", "curl -s -m 5 "+url)
	if err != nil || out != "outside" {
		t.Fatalf("ALLOW_ANY pod: curl %s: %q, %v; want the outside server's answer", url, out, err)
	}
	out, err = m.inPod("closed", "curl -s -m 5 -o /dev/null -w '%{http_code}' "+url+"; echo \" exit=$?\"")
	if err != nil || !strings.HasPrefix(out, "000 ") || strings.Contains(out, "exit=0") {
		t.Fatalf("REGISTRY_ONLY pod: curl %s: %q, %v; want no answer and a failing curl", url, out, err)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("the outside server got %d requests, want 1 (from the ALLOW_ANY pod only)", n)
	}
	t.Logf("ALLOW_ANY pod reached %s; REGISTRY_ONLY pod: %s", url, strings.TrimSpace(out))
}

// TestTransparentNothingLeftAfterKill: a sidecar that crashes is restarted
// in its pod's namespace; after SIGKILL of `halyard up`, `halyard down`
// removes every namespace and link of the mesh.
func TestTransparentNothingLeftAfterKill(t *testing.T) {
	m, _ := startTransparent(t, map[string]string{"reviews.yaml": reviewsTransparent})
	prefix := m.state.NetPrefix
	left, err := podnet.Leftovers(prefix)
	if err != nil || len(left) < 7 { // bridge + 3 pods x (netns + veth)
		t.Fatalf("mesh resources: %v (%v)", left, err)
	}
	pod, _ := m.state.Pod("default/halyard-exec")
	sidecar := pod.PIDs[len(pod.PIDs)-1]
	if err := syscall.Kill(sidecar, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		out, err := m.inPod("", "curl -s -m 2 -o /dev/null -w '%{http_code}' http://reviews:9080/")
		return err == nil && out == "200"
	})
	st, err := local.ReadState(m.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return !local.Alive(st.PID) || zombie(st.PID) })
	if left, _ := podnet.Leftovers(prefix); len(left) == 0 {
		t.Fatal("nothing was left after SIGKILL: the test proves nothing")
	}
	out, err := m.halyard(context.Background(), "down")
	if err != nil {
		t.Fatalf("halyard down: %v\n%s", err, out)
	}
	assertNothingLeft(t, prefix)
	if pids := processesWritingTo(m.stateDir); len(pids) > 0 {
		t.Errorf("processes of the mesh still running after halyard down: %v", pids)
	}
	t.Logf("after SIGKILL: %s", strings.TrimSpace(out))
}

// processesWritingTo lists the processes with a file open under dir (every
// process of a mesh writes its log in the state directory).
func processesWritingTo(dir string) []int {
	var out []int
	procs, _ := os.ReadDir("/proc")
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir("/proc/" + e.Name() + "/fd")
		for _, fd := range fds {
			if target, err := os.Readlink("/proc/" + e.Name() + "/fd/" + fd.Name()); err == nil && strings.HasPrefix(target, dir+"/") {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// TestPortForward: `halyard port-forward reviews:9080 PORT` lets a client
// on the host reach the service through the client pod's sidecar, so the
// VirtualService applies, in both capture modes.
func TestPortForward(t *testing.T) {
	t.Run("explicit", func(t *testing.T) {
		portForward(t, startMesh(t, map[string]string{"reviews.yaml": reviewsTransparent}))
	})
	t.Run("transparent", func(t *testing.T) {
		m, _ := startTransparent(t, map[string]string{"reviews.yaml": reviewsTransparent})
		portForward(t, m)
	})
}

func portForward(t *testing.T, m *mesh) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pf := exec.CommandContext(ctx, halyardBin(), "--state-dir", m.stateDir, "port-forward", "reviews:9080", port)
	outFile, err := os.Create(filepath.Join(t.TempDir(), "port-forward.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	pf.Stdout, pf.Stderr = outFile, outFile
	if err := pf.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = pf.Wait() }()
	c := &http.Client{Timeout: 5 * time.Second}
	url := "http://127.0.0.1:" + port + "/"
	waitFor(t, 10*time.Second, func() bool {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	counts := countVersions(t, c, url, nil, 100)
	out, _ := os.ReadFile(outFile.Name())
	t.Logf("100 requests through port-forward: %v (%s)", counts, strings.TrimSpace(string(out)))
	if counts["v1"]+counts["v2"] != 100 || counts["v2"] < 15 || counts["v2"] > 45 {
		t.Fatalf("versions %v; want the 70/30 split of the VirtualService", counts)
	}
}

// TestInitCapturesTheCurrentNamespace: `halyard init`, run inside a network
// namespace (as Kubernetes' init container would), installs the capture
// there; --remove takes it away.
func TestInitCapturesTheCurrentNamespace(t *testing.T) {
	needTransparent(t)
	n, err := podnet.New(podnet.Options{Prefix: podnet.NewPrefix(), PodCIDR: netip.MustParsePrefix("198.18.9.0/29")})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Setup(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
		assertNothingLeft(t, n.Prefix())
	}()
	p, err := n.AddPod("default/init", "default", "init")
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		argv := append([]string{"pod-exec", "--netns", p.Path, "--", halyardBin(), "init"}, args...)
		out, err := exec.Command(halyardBin(), argv...).CombinedOutput()
		if err != nil {
			t.Fatalf("halyard %v: %v\n%s", argv, err, out)
		}
		return string(out)
	}
	installed := func() bool {
		f, err := os.Open(p.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ok, err := capture.Installed(int(f.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if installed() {
		t.Fatal("a fresh namespace already has the capture")
	}
	run("--exclude-outbound-ports", "5432", "--include-outbound-ip-ranges", "10.0.0.0/8")
	if !installed() {
		t.Fatal("halyard init did not install the capture")
	}
	argv := []string{"pod-exec", "--netns", p.Path, "--", halyardBin(), "init", "--exclude-inbound-ports", "x"}
	out, err := exec.Command(halyardBin(), argv...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "excludeInboundPorts") {
		t.Fatalf("a bad port list: %v\n%s", err, out)
	}
	run("--remove")
	if installed() {
		t.Fatal("halyard init --remove left the capture")
	}
}

// TestTransparentGRPC: an unmodified grpc-go client inside a pod (no proxy
// variables: it dials grpc-echo's virtual IP) has its HTTP/2 connection
// captured and sniffed by the preface; the sidecar balances its calls per
// request over the 3 endpoints.
func TestTransparentGRPC(t *testing.T) {
	m, _ := startTransparent(t, map[string]string{"grpc.yaml": grpcEcho})
	const n = 300
	counts := runGRPCClient(t, m, n)
	t.Logf("%d unary calls from a pod over instances: %v", n, counts)
	if len(counts) != 3 {
		t.Fatalf("calls reached %d instances, want 3", len(counts))
	}
	for inst, c := range counts {
		if share := percent(c, n); share < 22 || share > 45 {
			t.Errorf("instance %s got %.1f%%, want 33%% (±11)", inst, share)
		}
	}
}
