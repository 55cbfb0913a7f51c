package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/halyard-mesh/halyard/internal/proxy/admin"
)

// endpoint is one of the proxy's own HTTP listeners: admin, Istio's stats
// port or its health port.
type endpoint struct {
	name string
	ln   net.Listener // nil: turned off (an empty address)
}

// listenEndpoints binds each named address; an empty address turns that
// endpoint off. On error the listeners already bound are closed.
func listenEndpoints(addrs [][2]string) ([]endpoint, error) {
	out := make([]endpoint, 0, len(addrs))
	for _, a := range addrs {
		e := endpoint{name: a[0]}
		if a[1] != "" {
			ln, err := net.Listen("tcp", a[1])
			if err != nil {
				closeEndpoints(out)
				return nil, fmt.Errorf("%s: %w", a[0], err)
			}
			e.ln = ln
		}
		out = append(out, e)
	}
	return out, nil
}

func closeEndpoints(eps []endpoint) {
	for _, e := range eps {
		if e.ln != nil {
			_ = e.ln.Close()
		}
	}
}

// addr is the endpoint's bound address, or "off".
func (e endpoint) addr() string {
	if e.ln == nil {
		return "off"
	}
	return e.ln.Addr().String()
}

// serveEndpoints serves each bound endpoint with its handler until ctx is
// done; the channel gets the first error (nil when all stopped cleanly)
// once every server has stopped.
func serveEndpoints(ctx context.Context, eps []endpoint, handlers []http.Handler, log *slog.Logger) <-chan error {
	errs := make(chan error, len(eps))
	n := 0
	for i, e := range eps {
		if e.ln == nil {
			continue
		}
		n++
		go func() {
			if err := admin.Serve(ctx, e.ln, handlers[i], log); err != nil {
				errs <- fmt.Errorf("%s: %w", e.name, err)
				return
			}
			errs <- nil
		}()
	}
	done := make(chan error, 1)
	go func() {
		var first error
		for range n {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		done <- first
	}()
	return done
}
