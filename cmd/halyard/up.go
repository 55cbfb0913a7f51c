package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/halyard-mesh/halyard/internal/local"
	"github.com/halyard-mesh/halyard/internal/localmesh"
	"github.com/halyard-mesh/halyard/internal/podnet"
)

type upFlags struct {
	files        []string
	detach       bool
	xdsAddress   string
	adminAddress string
	proxyBinary  string
	readyTimeout time.Duration
	capture      string
	podCIDR      string
	serviceCIDR  string
	caAddress    string
	caCerts      string
	trustDomain  string
	certTTL      time.Duration
	jwksRefresh  time.Duration
}

func newUpCommand(g *globals) *cobra.Command {
	f := &upFlags{}
	cmd := &cobra.Command{
		Use:   "up -f DIR|FILE [-f ...]",
		Short: "Run a whole mesh on this machine from Kubernetes and Istio YAML",
		Long: `Runs a mesh locally: every Deployment replica becomes a set of local processes
(its containers' command/args) with a Halyard sidecar, the control plane serves
the Istio configuration to the sidecars, and the files are watched: a saved
change is applied at once; a bad one is reported and the last good
configuration keeps being served. Ctrl-C stops everything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(f.files) == 0 {
				return errors.New("up: give the configuration with -f DIR or -f FILE")
			}
			if f.detach {
				return upDetached(cmd, g, f)
			}
			return upForeground(cmd, g, f)
		},
	}
	cmd.Flags().StringArrayVarP(&f.files, "file", "f", nil, "YAML file or directory (repeatable)")
	cmd.Flags().BoolVarP(&f.detach, "detach", "d", false, "start the mesh in the background and return once every workload is ready")
	cmd.Flags().StringVar(&f.xdsAddress, "xds-address", "127.0.0.1:15010", "control plane ADS (gRPC) listen address")
	cmd.Flags().StringVar(&f.adminAddress, "admin-address", "127.0.0.1:15014", "control plane admin HTTP listen address")
	cmd.Flags().StringVar(&f.proxyBinary, "proxy-binary", "", "path of halyard-proxy (default: next to halyard, then PATH)")
	cmd.Flags().DurationVar(&f.readyTimeout, "ready-timeout", 2*time.Minute, "how long to wait for every workload to become ready")
	cmd.Flags().StringVar(&f.capture, "capture", localmesh.CaptureAuto, "how apps reach their sidecar: auto (transparent on Linux as root, else explicit), transparent (own network namespace per pod, traffic captured) or explicit (HTTP_PROXY)")
	cmd.Flags().StringVar(&f.podCIDR, "pod-cidr", podnet.DefaultPodCIDR.String(), "transparent mode: pod addresses (the bridge takes the first)")
	cmd.Flags().StringVar(&f.serviceCIDR, "service-cidr", podnet.DefaultServiceCIDR.String(), "transparent mode: service virtual IPs")
	cmd.Flags().StringVar(&f.caAddress, "ca-address", "127.0.0.1:15012", "certificate authority (IstioCertificateService over TLS) listen address")
	cmd.Flags().StringVar(&f.caCerts, "cacerts", "", "directory with a plugged-in CA in Istio's cacerts layout (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem); default: a self-signed root kept in the state directory")
	cmd.Flags().StringVar(&f.trustDomain, "trust-domain", "cluster.local", "trust domain of the workload identities (spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>)")
	cmd.Flags().DurationVar(&f.certTTL, "workload-cert-ttl", 24*time.Hour, "lifetime of workload certificates; sidecars renew them at half of it")
	cmd.Flags().DurationVar(&f.jwksRefresh, "jwks-refresh-interval", 20*time.Minute, "how often the control plane fetches the key sets of RequestAuthentication jwksUris again (a failed fetch is retried every 5s)")
	return cmd
}

func upForeground(cmd *cobra.Command, g *globals, f *upFlags) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	proxy, err := findProxy(f.proxyBinary, self)
	if err != nil {
		return err
	}
	paths := make([]string, len(f.files))
	for i, p := range f.files {
		if paths[i], err = filepath.Abs(p); err != nil {
			return fmt.Errorf("up: %w", err)
		}
	}
	podCIDR, err := netip.ParsePrefix(f.podCIDR)
	if err != nil {
		return fmt.Errorf("up: --pod-cidr: %w", err)
	}
	serviceCIDR, err := netip.ParsePrefix(f.serviceCIDR)
	if err != nil {
		return fmt.Errorf("up: --service-cidr: %w", err)
	}
	caCerts := f.caCerts
	if caCerts != "" {
		if caCerts, err = filepath.Abs(caCerts); err != nil {
			return fmt.Errorf("up: %w", err)
		}
	}
	if f.certTTL < time.Second {
		return fmt.Errorf("up: --workload-cert-ttl %s: want at least 1s", f.certTTL)
	}
	if f.jwksRefresh < 10*time.Millisecond {
		return fmt.Errorf("up: --jwks-refresh-interval %s: want at least 10ms", f.jwksRefresh)
	}
	wd, _ := os.Getwd()
	return localmesh.Run(cmd.Context(), localmesh.Options{
		Paths: paths, StateDir: g.stateDir, WorkDir: wd,
		Capture: f.capture, PodCIDR: podCIDR, ServiceCIDR: serviceCIDR, PodExec: []string{self, "pod-exec"},
		XDSAddress: f.xdsAddress, AdminAddress: f.adminAddress,
		CAAddress: f.caAddress, CACertsDir: caCerts, TrustDomain: f.trustDomain, WorkloadCertTTL: f.certTTL,
		JWKSRefresh: f.jwksRefresh,
		ProxyBinary: proxy, PathPrefix: []string{filepath.Dir(self)},
		ReadyTimeout: f.readyTimeout, Out: cmd.OutOrStdout(), Logger: g.logger(), Getenv: g.getenv,
	})
}

// findProxy locates halyard-proxy: the flag, then next to halyard, then PATH.
func findProxy(flag, self string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	beside := filepath.Join(filepath.Dir(self), "halyard-proxy")
	if _, err := os.Stat(beside); err == nil {
		return beside, nil
	}
	if p, err := exec.LookPath("halyard-proxy"); err == nil {
		return p, nil
	}
	return "", errors.New("up: halyard-proxy not found next to halyard or on PATH (build both with `make build`)")
}

// upDetached starts `halyard up` again in the background, in its own
// session, and waits until its state file says ready, or it fails.
func upDetached(cmd *cobra.Command, g *globals, f *upFlags) error {
	if err := os.MkdirAll(g.stateDir, 0o755); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	if st, err := local.ReadState(g.stateDir); err == nil && local.Alive(st.PID) {
		return fmt.Errorf("up: a mesh is already running from %s (pid %d); stop it with `halyard down`", g.stateDir, st.PID)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	logPath := filepath.Join(g.stateDir, "up.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	defer logFile.Close()
	child := exec.Command(self, withoutDetach(os.Args[1:])...)
	child.Stdout, child.Stderr = logFile, logFile
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		return fmt.Errorf("up: start background mesh: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("up: the mesh exited during start-up (%v):\n%s", err, readTail(logPath))
		case <-cmd.Context().Done():
			_ = child.Process.Signal(syscall.SIGTERM)
			<-exited
			return errors.New("up: interrupted; the mesh was stopped")
		case <-tick.C:
		}
		st, err := local.ReadState(g.stateDir)
		if err != nil || st.PID != child.Process.Pid {
			continue
		}
		switch {
		case st.Ready:
			fmt.Fprint(cmd.OutOrStdout(), readTail(logPath))
			fmt.Fprintf(cmd.OutOrStdout(), "mesh running in the background (pid %d); stop it with `halyard down`\n", st.PID)
			return nil
		case st.Error != "":
			_ = child.Process.Signal(syscall.SIGTERM)
			<-exited
			return fmt.Errorf("up: %s; the mesh was stopped:\n%s", st.Error, readTail(logPath))
		}
	}
}

func withoutDetach(args []string) []string {
	var out []string
	for _, a := range args {
		switch a {
		case "-d", "--detach", "--detach=true":
			continue
		}
		out = append(out, a)
	}
	return out
}

// readTail returns the last 16 KiB of a log file.
func readTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 16<<10 {
		b = b[len(b)-16<<10:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}
