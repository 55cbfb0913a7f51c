// Package admin serves the proxy's admin HTTP endpoints: readiness
// (/healthz/ready, alias /ready), /config_dump, and, when given,
// /stats/prometheus and /debug/tap.
package admin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Source is what the admin endpoints report on.
type Source interface {
	// Ready reports whether the first LDS/CDS/RDS/EDS were applied and the
	// listeners are bound.
	Ready() bool
	// ConfigDump writes the current xDS resources, with versions, as JSON.
	ConfigDump(w io.Writer) error
}

// Metrics writes the proxy's metrics in the Prometheus text format.
type Metrics interface {
	WritePrometheus(w io.Writer) error
}

// Telemetry are the optional telemetry endpoints.
type Telemetry struct {
	// Metrics is served at /stats/prometheus.
	Metrics Metrics
	// Tap is served at /debug/tap.
	Tap http.Handler
}

// Handler returns the admin HTTP handler.
func Handler(src Source) http.Handler { return HandlerWith(src, Telemetry{}) }

// HandlerWith returns the admin HTTP handler with telemetry endpoints.
func HandlerWith(src Source, t Telemetry) http.Handler {
	mux := http.NewServeMux()
	if t.Metrics != nil {
		mux.HandleFunc("GET /stats/prometheus", func(w http.ResponseWriter, _ *http.Request) {
			var buf bytes.Buffer
			if err := t.Metrics.WritePrometheus(&buf); err != nil {
				http.Error(w, "admin: stats: "+err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			_, _ = w.Write(buf.Bytes())
		})
	}
	if t.Tap != nil {
		mux.Handle("GET /debug/tap", t.Tap)
	}
	ready := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if src.Ready() {
			_, _ = io.WriteString(w, "LIVE\n")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "PRE_INITIALIZING\n")
	}
	mux.HandleFunc("GET /healthz/ready", ready)
	mux.HandleFunc("GET /ready", ready)
	mux.HandleFunc("GET /config_dump", func(w http.ResponseWriter, _ *http.Request) {
		var buf bytes.Buffer
		if err := src.ConfigDump(&buf); err != nil {
			http.Error(w, "admin: config dump: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(buf.Bytes())
	})
	return mux
}

// Serve serves h on ln until ctx is done, then shuts the server down.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler: h,
		// Streams (/debug/tap) end when ctx is done.
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
