package hcm

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

type routes map[string]*router.Table

func (r routes) RouteTable(name string) *router.Table { return r[name] }

func TestUpstreamFailures(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then net/http notices the client leaving
		<-r.Context().Done()               // never answers
	}))
	defer slow.Close()
	// A port with nothing listening.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	um := upstream.NewManager(log)
	if err := um.UpdateClusters([]upstream.Config{
		{Name: "dead", Type: upstream.Static, ConnectTimeout: time.Second, Endpoints: []upstream.EndpointConfig{{Address: dead, Weight: 1}}},
		{Name: "slow", Type: upstream.Static, ConnectTimeout: time.Second, Endpoints: []upstream.EndpointConfig{{Address: slow.Listener.Addr().String(), Weight: 1}}},
	}); err != nil {
		t.Fatal(err)
	}
	tb, err := router.NewTable("r", []router.VirtualHostConfig{{Name: "vh", Domains: []string{"*"}, Routes: []router.RouteConfig{
		{Name: "dead", Match: router.Match{Path: "/dead"}, Action: router.Action{Cluster: "dead"}},
		{Name: "slow", Match: router.Match{Path: "/slow"}, Action: router.Action{Cluster: "slow", Timeout: 100 * time.Millisecond}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var infos []RequestInfo
	s := NewServer(Options{Routes: routes{"r": tb}, Clusters: um, Log: log, OnDone: func(i *RequestInfo) {
		mu.Lock()
		infos = append(infos, *i)
		mu.Unlock()
	}})
	cfg := &Config{RouteConfigName: "r", GenerateRequestID: true}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.Serve(w, r, "test", cfg) }))
	defer front.Close()
	c := &http.Client{Transport: &http.Transport{}}

	for _, tc := range []struct {
		path, ct string
		code     int
		body     string
		flag     Flags
		grpc     string
	}{
		{"/dead", "", 503, "upstream connect error or disconnect/reset before headers. reset reason: connection failure", UpstreamConnectionFailure, ""},
		{"/slow", "", 504, "upstream request timeout", UpstreamRequestTimeout, ""},
		{"/dead", "application/grpc", 200, "", UpstreamConnectionFailure, "14"},
		{"/nowhere", "application/grpc", 200, "", NoRouteFound, "12"},
	} {
		req, _ := http.NewRequest("POST", front.URL+tc.path, strings.NewReader("x"))
		if tc.ct != "" {
			req.Header.Set("Content-Type", tc.ct)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || string(b) != tc.body || resp.Header.Get("Grpc-Status") != tc.grpc {
			t.Errorf("%s %s: %d %q grpc-status %q", tc.path, tc.ct, resp.StatusCode, b, resp.Header.Get("Grpc-Status"))
		}
		mu.Lock()
		last := infos[len(infos)-1]
		mu.Unlock()
		if last.Flags&tc.flag == 0 || last.Path != tc.path {
			t.Errorf("%s: info %+v, want flag %v", tc.path, last, tc.flag)
		}
	}
	if got := (NoRouteFound | NoHealthyUpstream).String(); got != "NR,UH" {
		t.Errorf("flags string %q", got)
	}
}
