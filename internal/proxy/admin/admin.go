// Package admin serves the proxy's HTTP endpoints: on the admin address
// readiness (/healthz/ready, alias /ready), /config_dump, and, when
// given, /stats/prometheus and /debug/tap; Istio's stats port (15090:
// /stats/prometheus only) and health port (15021: /healthz/ready only).
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

// Readiness is what the health endpoint reports on.
type Readiness interface {
	// Ready reports whether the first LDS/CDS/RDS/EDS were applied and the
	// listeners are bound.
	Ready() bool
}

// Source is what the admin endpoints report on.
type Source interface {
	Readiness
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
		mux.Handle("GET /stats/prometheus", prometheus(t.Metrics))
	}
	if t.Tap != nil {
		mux.Handle("GET /debug/tap", t.Tap)
	}
	mux.Handle("GET /healthz/ready", ready(src))
	mux.Handle("GET /ready", ready(src))
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

// StatsHandler serves Istio's stats port: /stats/prometheus only.
func StatsHandler(m Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /stats/prometheus", prometheus(m))
	return mux
}

// HealthHandler serves Istio's health port: /healthz/ready only, 200 once
// the first configuration is applied, 503 before.
func HealthHandler(r Readiness) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz/ready", ready(r))
	return mux
}

func prometheus(m Metrics) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		var buf bytes.Buffer
		if err := m.WritePrometheus(&buf); err != nil {
			http.Error(w, "admin: stats: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(buf.Bytes())
	}
}

func ready(r Readiness) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if r.Ready() {
			_, _ = io.WriteString(w, "LIVE\n")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "PRE_INITIALIZING\n")
	}
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
