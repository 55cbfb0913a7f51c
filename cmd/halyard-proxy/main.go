// Command halyard-proxy is Halyard's sidecar proxy: an xDS v3 client (ADS
// over gRPC) that routes the pod's HTTP and gRPC traffic.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/halyard-mesh/halyard/internal/proxy/accesslog"
	"github.com/halyard-mesh/halyard/internal/proxy/admin"
	"github.com/halyard-mesh/halyard/internal/proxy/compile"
	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/sidecar"
	"github.com/halyard-mesh/halyard/internal/proxy/stats"
	"github.com/halyard-mesh/halyard/internal/proxy/tap"
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "dev"

// metadataFlag collects repeated --metadata KEY=VALUE flags.
type metadataFlag map[string]string

func (m metadataFlag) String() string { return fmt.Sprint(map[string]string(m)) }

func (m metadataFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	m[k] = val
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "halyard-proxy:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("halyard-proxy", flag.ContinueOnError)
	xdsAddr := fs.String("xds-address", "127.0.0.1:15010", "address of the ADS server (insecure gRPC)")
	nodeID := fs.String("node-id", "", "xDS node id: sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local")
	adminAddr := fs.String("admin-address", "127.0.0.1:15000", "address of the admin endpoints (/healthz/ready, /config_dump, /stats/prometheus, /debug/tap)")
	statsAddr := fs.String("stats-address", "0.0.0.0:15090", "address of Istio's stats port (/stats/prometheus); empty turns it off")
	healthAddr := fs.String("health-address", "0.0.0.0:15021", "address of Istio's health port (/healthz/ready); empty turns it off")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	drain := fs.Duration("drain-timeout", 5*time.Second, "how long removed listeners drain in-flight requests")
	concurrency := fs.Int("concurrency", 1, "worker threads (GOMAXPROCS); 0 uses every core")
	gcPercent := fs.Int("gc-percent", 25, "heap growth between garbage collections, in percent of the live heap (Go's GOGC): lower saves memory, costs CPU; 0 leaves the runtime default ($GOGC)")
	debugHeaders := fs.String("debug-headers", "request", "when responses carry x-halyard-reason (response flags and why the proxy ended, delayed or retried the request): request (when the request has x-halyard-debug: 1), always or never")
	md := metadataFlag{}
	fs.Var(md, "metadata", "node metadata KEY=VALUE (repeatable)")
	idFlags := addIdentityFlags(fs)
	if err := parseAndApply(fs, args, concurrency, gcPercent); err != nil {
		return err
	}
	if *nodeID == "" {
		return errors.New("--node-id is required")
	}
	debug, ok := hcm.ParseDebugHeaders(*debugHeaders)
	if !ok {
		return fmt.Errorf("--debug-headers: want request, always or never, got %q", *debugHeaders)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	id, err := newIdentity(idFlags, md, log)
	if err != nil {
		return err
	}

	meta := make(map[string]any, len(md))
	for k, v := range md {
		meta[k] = v
	}
	metaStruct, err := structpb.NewStruct(meta)
	if err != nil {
		return fmt.Errorf("--metadata: %w", err)
	}
	node := &corev3.Node{
		Id:                   *nodeID,
		Metadata:             metaStruct,
		UserAgentName:        "halyard-proxy",
		UserAgentVersionType: &corev3.Node_UserAgentVersion{UserAgentVersion: version},
	}

	conn, err := grpc.NewClient(*xdsAddr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithNoProxy(), // the pod's HTTP(S)_PROXY points at this proxy itself
		// A large mesh's config arrives in responses of megabytes: take them
		// without window-update round trips (Envoy's window is 256 MiB) and
		// without grpc-go's 4 MiB message limit.
		grpc.WithInitialWindowSize(16<<20), grpc.WithInitialConnWindowSize(16<<20),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)),
	)
	if err != nil {
		return fmt.Errorf("xds: %w", err)
	}
	defer conn.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	eps, err := listenEndpoints([][2]string{{"admin", *adminAddr}, {"stats", *statsAddr}, {"health", *healthAddr}})
	if err != nil {
		return err
	}
	if eps[0].ln == nil {
		closeEndpoints(eps)
		return errors.New("--admin-address is required")
	}
	self := stats.SelfFromMetadata(md)
	var secrets compile.Secrets // the SDS secrets default and ROOTCA
	if id != nil {
		secrets, self.Principal = id, id.ID()
	}
	metrics := stats.NewRegistry(self)
	taps := tap.NewHub(self)
	logs := accesslog.NewSinks(os.Stdout)
	defer logs.Close()
	p := sidecar.New(sidecar.Options{Node: node, XDS: conn, Log: log, DrainTimeout: *drain, DebugHeaders: debug,
		AccessLogs: logs, Metrics: metrics, Secrets: secrets, TCPStats: metrics, PeerMetadata: self.Encode(), PeerID: *nodeID,
		OnRequest: func(info *hcm.RequestInfo) {
			metrics.ObserveHTTP(info)
			taps.Publish(info)
		}})
	log.Info("halyard-proxy starting", "version", version, "node", *nodeID, "xds", *xdsAddr,
		"admin", eps[0].addr(), "stats", eps[1].addr(), "health", eps[2].addr())

	rp := readyProxy{Proxy: p, id: id}
	endpointsErr := serveEndpoints(ctx, eps, []http.Handler{
		withCerts(withProfiling(admin.HandlerWith(rp, admin.Telemetry{Metrics: metrics, Tap: taps})), id),
		admin.StatsHandler(metrics),
		admin.HealthHandler(rp),
	}, log)
	idDone := make(chan struct{})
	go func() {
		defer close(idDone)
		if id != nil {
			_ = id.Run(ctx)
		}
	}()
	runErr := p.Run(ctx)
	stop()
	<-idDone
	if err := <-endpointsErr; err != nil && runErr == nil {
		runErr = err
	}
	log.Info("halyard-proxy stopped")
	return runErr
}

// parseAndApply parses the flags and sets the number of worker threads.
func parseAndApply(fs *flag.FlagSet, args []string, concurrency, gcPercent *int) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *concurrency > 0 {
		runtime.GOMAXPROCS(*concurrency)
	}
	if *gcPercent > 0 {
		debug.SetGCPercent(*gcPercent)
	}
	return nil
}
