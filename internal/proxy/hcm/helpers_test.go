package hcm

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

// rig is a proxy under test: clusters of httptest backends, one route
// table, and a front server that hands requests to Serve.
type rig struct {
	t      *testing.T
	um     *upstream.Manager
	srv    *Server
	front  *httptest.Server
	client *http.Client
	infos  chan RequestInfo
}

type clusterSpec struct {
	name   string
	addrs  []string
	h2c    bool
	limits *upstream.Thresholds
}

func newRig(t *testing.T, clusters []clusterSpec, tc router.TableConfig, opts ...func(*Options)) *rig {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	um := upstream.NewManager(log)
	var cfgs []upstream.Config
	for _, c := range clusters {
		cfg := upstream.Config{Name: c.name, Type: upstream.Static, ConnectTimeout: time.Second, Limits: c.limits}
		if c.h2c {
			cfg.Protocol = upstream.H2C
		}
		for _, a := range c.addrs {
			cfg.Endpoints = append(cfg.Endpoints, upstream.EndpointConfig{Address: a, Weight: 1})
		}
		cfgs = append(cfgs, cfg)
	}
	if err := um.UpdateClusters(cfgs); err != nil {
		t.Fatal(err)
	}
	if tc.Name == "" {
		tc.Name = "r"
	}
	tb, err := router.NewTableConfig(tc)
	if err != nil {
		t.Fatal(err)
	}
	rg := &rig{t: t, um: um, infos: make(chan RequestInfo, 4096)}
	o := Options{Routes: routes{tc.Name: tb}, Clusters: um, Log: log, OnDone: func(i *RequestInfo) {
		select {
		case rg.infos <- *i:
		default:
		}
	}}
	for _, f := range opts {
		f(&o)
	}
	rg.srv = NewServer(o)
	cfg := &Config{RouteConfigName: tc.Name, GenerateRequestID: true}
	rg.front = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rg.srv.Serve(w, r, "test", cfg) }))
	rg.front.Config.Protocols = h1h2c()
	rg.front.Start()
	t.Cleanup(rg.front.Close)
	t.Cleanup(um.Close)
	rg.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return rg
}

// withFilters gives the rig's listener HTTP filters.
func (rg *rig) withFilters(fs ...Filter) {
	tbName := "r"
	cfg := &Config{RouteConfigName: tbName, GenerateRequestID: true, Filters: fs}
	rg.front.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rg.srv.Serve(w, r, "test", cfg) })
}

// do sends a request; the path may be absolute ("http://host/path").
func (rg *rig) do(method, path string, hdr http.Header, body io.Reader) (*http.Response, string) {
	rg.t.Helper()
	req, err := http.NewRequest(method, rg.front.URL+path, body)
	if err != nil {
		rg.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if h := hdr.Get("Host"); h != "" {
		req.Host = h
	}
	resp, err := rg.client.Do(req)
	if err != nil {
		rg.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// last returns the RequestInfo of the last request sent since the
// previous call (OnDone runs before the handler returns).
func (rg *rig) last() RequestInfo {
	rg.t.Helper()
	var i RequestInfo
	select {
	case i = <-rg.infos:
	case <-time.After(5 * time.Second):
		rg.t.Fatal("no request info")
	}
	for {
		select {
		case i = <-rg.infos:
		default:
			return i
		}
	}
}

// reset forgets the infos of earlier requests.
func (rg *rig) reset() {
	for {
		select {
		case <-rg.infos:
		default:
			return
		}
	}
}

// backend starts an httptest server on 127.0.0.1:0 (HTTP/1.1 and h2c).
func backend(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.Config.Protocols = h1h2c()
	s.Start()
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

func h1h2c() *http.Protocols {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return &p
}

// h2cClient speaks HTTP/2 with prior knowledge, as gRPC clients do.
func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}, Timeout: 10 * time.Second}
}

// deadAddr is a local address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func vhost(routes ...router.RouteConfig) router.VirtualHostConfig {
	return router.VirtualHostConfig{Name: "vh", Domains: []string{"*"}, Routes: routes}
}

func table(vhs ...router.VirtualHostConfig) router.TableConfig {
	return router.TableConfig{Name: "r", VirtualHosts: vhs}
}

func prefix(p string) router.Match { return router.Match{PathKind: router.PathPrefix, Path: p} }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
