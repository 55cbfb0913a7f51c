package sample

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
)

// readHeaderTimeout bounds how long a client may take to send headers.
const readHeaderTimeout = 10 * time.Second

// server is one running sample instance.
type server struct {
	opts   Options
	http   *http.Server
	grpc   *grpc.Server
	health *health.Server
	// active counts open connections and running handlers, so that Run
	// returns only after all of them are gone.
	active activity
	// cancelBase cancels every request context (forced shutdown).
	cancelBase context.CancelFunc
	// idle closes the idle connections of a client created by Run.
	idle func()
}

// Run serves HTTP/1.1, h2c and gRPC on o.Addr until ctx is done, then shuts
// down gracefully: it stops accepting, lets in-flight requests finish for up
// to o.ShutdownTimeout, cancels what remains, and returns once every
// connection and handler is gone. It returns nil after a shutdown, and an
// error prefixed "sample: " when the address cannot be bound or serving
// fails.
func Run(ctx context.Context, o Options) error {
	o = o.withDefaults()
	defaults, err := parseParams(url.Values{"delay": {o.Delay.String()}, "status": {o.Status}}, params{})
	if err != nil {
		return fmt.Errorf("sample: %w", err)
	}
	o.defaults = defaults
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("sample: listen: %w", err)
	}
	s := newServer(o)
	return s.serve(ctx, ln)
}

func newServer(o Options) *server {
	id := identity{service: o.Service, version: o.Version, instance: o.Instance}
	s := &server{opts: o, idle: func() {}}
	client := o.Client
	if client == nil {
		var tr *http.Transport
		client, tr = defaultClient()
		s.idle = tr.CloseIdleConnections
	}
	s.grpc, s.health = newGRPCServer(id, o.Logger)
	plain := &httpHandler{id: id, calls: &caller{urls: o.Calls, client: client, log: o.Logger}, log: o.Logger,
		defaults: o.defaults, counts: newRequestCounts()}
	base, cancel := context.WithCancel(context.Background())
	s.cancelBase = cancel
	s.http = &http.Server{
		Handler:           s.track(route(s.grpc, plain, plain.counts)),
		Protocols:         protocols(),
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnState:         s.connState,
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug),
	}
	return s
}

// protocols are HTTP/1.1 and HTTP/2 with prior knowledge (h2c), which gRPC
// clients speak.
func protocols() *http.Protocols {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return &p
}

// route sends gRPC requests to g (counting them by authority, as h counts
// its requests) and everything else to h.
func route(g, h http.Handler, counts *requestCounts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			counts.add(r.Host)
			g.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// track counts running handlers in s.active.
func (s *server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.active.add(1)
		defer s.active.add(-1)
		h.ServeHTTP(w, r)
	})
}

// connState counts open connections in s.active.
func (s *server) connState(_ net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		s.active.add(1)
	case http.StateClosed, http.StateHijacked:
		s.active.add(-1)
	}
}

func (s *server) serve(ctx context.Context, ln net.Listener) error {
	log := s.opts.Logger.With("addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(ln) }()
	log.Info("sample serving", "service", s.opts.Service, "version", s.opts.Version,
		"instance", s.opts.Instance, "calls", s.opts.Calls)
	if s.opts.Ready != nil {
		s.opts.Ready(ln.Addr())
	}
	select {
	case err := <-errc:
		s.stop(false)
		return fmt.Errorf("sample: serve: %w", err)
	case <-ctx.Done():
	}
	graceful := s.shutdown()
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		log.Warn("sample serve ended", "err", err)
	}
	s.stop(graceful)
	log.Info("sample stopped", "graceful", graceful)
	return nil
}

// shutdown stops accepting and waits up to the shutdown timeout for
// in-flight requests; it reports whether they all finished in time.
func (s *server) shutdown() bool {
	s.health.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	return s.http.Shutdown(ctx) == nil
}

// stop cancels whatever is still running and waits until every connection
// and handler is gone.
func (s *server) stop(graceful bool) {
	s.cancelBase()
	if !graceful {
		_ = s.http.Close()
	}
	s.grpc.Stop()
	s.active.wait()
	s.idle()
}
