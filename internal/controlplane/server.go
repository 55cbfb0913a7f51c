// Package controlplane wires Halyard's control plane together: the last good
// config snapshot and the running pods go into the registry, the registry
// into per-proxy xDS snapshots, and those out over ADS (go-control-plane).
// It also serves the admin HTTP API. It holds no translation logic itself.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	xdsserver "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/halyard-mesh/halyard/internal/adscache"
	"github.com/halyard-mesh/halyard/internal/config"
	"github.com/halyard-mesh/halyard/internal/jwks"
	"github.com/halyard-mesh/halyard/internal/registry"
)

// Push throttling: at most maxUnansweredPushes xDS responses are awaiting
// their ACK at once; a response not answered within pushAckTimeout stops
// counting.
const (
	maxUnansweredPushes = 40
	pushAckTimeout      = 5 * time.Second
)

// Options configure a Server.
type Options struct {
	XDSAddress   string // e.g. 127.0.0.1:15010 (":0" picks a free port)
	AdminAddress string // e.g. 127.0.0.1:15014
	DomainSuffix string // cluster.local by default
	Logger       *slog.Logger
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// CA, when set, serves workload certificates (see ca.go).
	CA *CAOptions
	// JWKSRefresh is how often the key sets of RequestAuthentication
	// jwksUris are fetched again (20 minutes by default); JWKSClient
	// fetches them (http.DefaultClient by default). See jwks.go.
	JWKSRefresh time.Duration
	JWKSClient  *http.Client
}

// Server is the control plane. Create it with New, feed it with SetConfig and
// SetPods, and run it with Run.
type Server struct {
	opts    Options
	log     *slog.Logger
	cache   *adscache.Cache
	syncz   *syncTracker
	pusher  *pusher
	metrics *Metrics
	jwks    *jwks.Fetcher
	extra   *http.ServeMux // handlers mounted with Handle

	xdsLn, adminLn, caLn net.Listener
	ready                chan struct{}
}

// New returns a control plane that is not yet listening.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DomainSuffix == "" {
		opts.DomainSuffix = registry.DefaultDomainSuffix
	}
	log := opts.Logger.With("component", "controlplane")
	snapshots := adscache.New(log)
	tracker := newSyncTracker(opts.Now)
	p := newPusher(snapshots, tracker, opts.DomainSuffix, log)
	if opts.CA != nil && opts.CA.Authority != nil {
		// Auto mutual TLS checks the SPIFFE IDs the CA issues.
		p.trustDomain = opts.CA.Authority.TrustDomain()
	}
	fetcher := jwks.New(jwks.Options{Client: opts.JWKSClient, Refresh: opts.JWKSRefresh, Now: opts.Now,
		Log: log.With("component", "jwks"), OnChange: p.repush})
	p.jwks = fetcher
	tracker.metrics = newMetrics(gauges{
		connected:   tracker.connected,
		services:    func() float64 { return float64(p.counts().services) },
		virtualSvcs: func() float64 { return float64(p.counts().virtualServices) },
	})
	return &Server{
		opts:    opts,
		log:     log,
		cache:   snapshots,
		syncz:   tracker,
		pusher:  p,
		metrics: tracker.metrics,
		jwks:    fetcher,
		extra:   http.NewServeMux(),
		ready:   make(chan struct{}),
	}
}

// Metrics returns the control plane's metrics, for the components that
// count into them (the CA, the config watcher).
func (s *Server) Metrics() *Metrics { return s.metrics }

// Handle mounts an extra handler on the admin address (the web UI). Call
// it before Run; patterns follow http.ServeMux.
func (s *Server) Handle(pattern string, h http.Handler) { s.extra.Handle(pattern, h) }

// Config returns the configuration in force (nil before the first).
func (s *Server) Config() *config.Snapshot { return s.pusher.config() }

// SetConfig replaces the served configuration with a validated snapshot.
// The caller keeps calling it only with good snapshots, so the mesh keeps the
// last good config when a file turns bad.
// Key sets of new jwksUris are fetched first (each within its rule's
// timeout), so that the first push already carries them.
func (s *Server) SetConfig(cfg *config.Snapshot) {
	s.jwks.Sync(context.Background(), jwksURIs(cfg))
	s.pusher.setConfig(cfg)
}

// SetPods replaces the set of running pods.
func (s *Server) SetPods(pods []registry.Pod) { s.pusher.setPods(pods) }

// Model returns the registry the last push was computed from (nil before).
func (s *Server) Model() *registry.Model { return s.pusher.model() }

// Listen binds the xDS and admin addresses; Run serves them.
func (s *Server) Listen() error {
	var err error
	if s.xdsLn, err = net.Listen("tcp", s.opts.XDSAddress); err != nil {
		return fmt.Errorf("controlplane: xds listener: %w", err)
	}
	if s.adminLn, err = net.Listen("tcp", s.opts.AdminAddress); err != nil {
		s.xdsLn.Close()
		return fmt.Errorf("controlplane: admin listener: %w", err)
	}
	if err = s.listenCA(); err != nil {
		s.xdsLn.Close()
		s.adminLn.Close()
		return err
	}
	return nil
}

// XDSAddress is the bound xDS address (after Listen).
func (s *Server) XDSAddress() string { return s.xdsLn.Addr().String() }

// AdminAddress is the bound admin address (after Listen).
func (s *Server) AdminAddress() string { return s.adminLn.Addr().String() }

// Run serves ADS and the admin API until ctx is done. Listen must have
// succeeded first.
func (s *Server) Run(ctx context.Context) error {
	if s.xdsLn == nil {
		return errors.New("controlplane: Run before Listen")
	}
	grpcServer := grpc.NewServer(
		grpc.ForceServerCodecV2(newXDSCodec()),
		// Thousands of mostly idle streams: a connection holds a write
		// buffer only while it flushes (one flush carries up to 256 KiB,
		// fewer syscalls for a push), and reads its small requests
		// through a small buffer.
		grpc.SharedWriteBuffer(true),
		grpc.WriteBufferSize(256<<10),
		grpc.ReadBufferSize(4<<10),
		grpc.MaxConcurrentStreams(1<<20),
		grpc.ChainStreamInterceptor(pushLimiter(maxUnansweredPushes, pushAckTimeout)),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 5 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 15 * time.Second, PermitWithoutStream: true}),
	)
	ads := xdsserver.NewServer(ctx, s.cache, s.syncz.callbacks(s.log))
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(grpcServer, ads)

	admin := &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 5 * time.Second}

	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() { s.jwks.Run(ctx) })
	wg.Add(2)
	go func() { defer wg.Done(); errs <- grpcServer.Serve(s.xdsLn) }()
	var caServer *grpc.Server
	if s.caLn != nil {
		caServer = s.newCAServer()
		wg.Go(func() { errs <- caServer.Serve(s.caLn) })
	}
	go func() {
		defer wg.Done()
		if err := admin.Serve(s.adminLn); !errors.Is(err, http.ErrServerClosed) {
			errs <- err
		}
	}()
	s.log.Info("control plane serving", "xds", s.XDSAddress(), "admin", s.AdminAddress(), "ca", s.CAAddress())
	close(s.ready)

	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
		err = fmt.Errorf("controlplane: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = admin.Shutdown(shutdownCtx)
	stopped := make(chan struct{})
	go func() { grpcServer.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-shutdownCtx.Done():
		grpcServer.Stop()
	}
	if caServer != nil {
		caServer.Stop() // CSRs are short unary calls
	}
	wg.Wait()
	return err
}
