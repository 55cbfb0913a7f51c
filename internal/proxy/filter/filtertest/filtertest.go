// Package filtertest runs HTTP filters in a real HCM for their tests: a
// front server hands requests to an hcm.Server whose one route table
// sends them to a local upstream. Only tests import it.
package filtertest

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/router"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

// Proxy is an HCM with filters in front of one upstream.
type Proxy struct {
	URL string
	// Upstream counts the requests that reached the upstream.
	Upstream atomic.Int64
	// Infos receives every request's info.
	Infos chan hcm.RequestInfo
	// Seen is the header (and URL) of the last request the upstream got.
	Seen atomic.Pointer[http.Request]
}

// Start serves routes (cluster "up" is the upstream, which answers 200
// "upstream" with header X-Upstream: 1) through filters.
func Start(t testing.TB, filters []hcm.Filter, vh router.VirtualHostConfig) *Proxy {
	t.Helper()
	p := &Proxy{Infos: make(chan hcm.RequestInfo, 10000)}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.Upstream.Add(1)
		p.Seen.Store(&http.Request{Header: r.Header.Clone(), URL: r.URL})
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Upstream", "1")
		_, _ = io.WriteString(w, "upstream")
	}))
	t.Cleanup(up.Close)
	log := slog.New(slog.DiscardHandler)
	um := upstream.NewManager(log)
	if err := um.UpdateClusters([]upstream.Config{{Name: "up", Type: upstream.Static, ConnectTimeout: time.Second,
		Endpoints: []upstream.EndpointConfig{{Address: up.Listener.Addr().String(), Weight: 1}}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(um.Close)
	if vh.Name == "" {
		vh.Name = "vh"
	}
	if len(vh.Domains) == 0 {
		vh.Domains = []string{"*"}
	}
	tb, err := router.NewTable("r", []router.VirtualHostConfig{vh})
	if err != nil {
		t.Fatal(err)
	}
	srv := hcm.NewServer(hcm.Options{Routes: tables{"r": tb}, Clusters: um, Log: log, OnDone: func(i *hcm.RequestInfo) {
		select {
		case p.Infos <- *i:
		default:
		}
	}})
	cfg := &hcm.Config{RouteConfigName: "r", Filters: filters}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { srv.Serve(w, r, "test", cfg) }))
	t.Cleanup(front.Close)
	p.URL = front.URL
	return p
}

type tables map[string]*router.Table

func (t tables) RouteTable(name string) *router.Table { return t[name] }

// Info returns the info of the next finished request.
func (p *Proxy) Info(t testing.TB) hcm.RequestInfo {
	t.Helper()
	select {
	case i := <-p.Infos:
		return i
	case <-time.After(5 * time.Second):
		t.Fatal("no request info")
	}
	return hcm.RequestInfo{}
}

// Do sends a request and returns the response with its body read.
func (p *Proxy) Do(t testing.TB, c *http.Client, method, path string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, p.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// PerFilter returns a per-filter config slice with v in slot.
func PerFilter(slot int, v any) []any {
	out := make([]any, slot+1)
	out[slot] = v
	return out
}
