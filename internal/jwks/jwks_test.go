package jwks_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/jwk/jwktest"
	"github.com/halyard-mesh/halyard/internal/jwks"
	"github.com/halyard-mesh/halyard/internal/waittest"
)

// server serves a key set that the test can change, or fail.
type server struct {
	*httptest.Server
	mu     sync.Mutex
	body   string
	status int
	hits   atomic.Int64
}

func newServer(t *testing.T, body string) *server {
	s := &server{body: body, status: 200}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.WriteHeader(s.status)
		_, _ = w.Write([]byte(s.body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) set(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

func keySet(t *testing.T, kid string) string {
	k, err := jwktest.NewKey("ES256", kid)
	if err != nil {
		t.Fatal(err)
	}
	return jwktest.JWKS(k)
}

func TestRotation(t *testing.T) {
	first, second := keySet(t, "one"), keySet(t, "two")
	srv := newServer(t, first)
	var changes atomic.Int64
	f := jwks.New(jwks.Options{Refresh: 30 * time.Millisecond, OnChange: func() { changes.Add(1) }})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { f.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	uri := srv.URL + "/jwks.json"
	f.Sync(ctx, map[string]time.Duration{uri: time.Second})
	if got, err := f.JWKS(uri); got != first || err != nil {
		t.Fatalf("after Sync: %q, %v; want the first key set", got, err)
	}
	srv.set(200, second)
	waittest.Until(t, "the rotated key set", func() bool { got, _ := f.JWKS(uri); return got == second })
	waittest.Until(t, "OnChange", func() bool { return changes.Load() >= 1 })

	// A failed refresh keeps the last good keys.
	srv.set(500, "")
	before := srv.hits.Load()
	waittest.Until(t, "two failed refreshes", func() bool { return srv.hits.Load() >= before+2 })
	if got, err := f.JWKS(uri); got != second || err != nil {
		t.Errorf("after failed refreshes: %q, %v; want the second key set", got, err)
	}
	// Forgotten URIs are no longer fetched.
	f.Sync(ctx, nil)
	if _, err := f.JWKS(uri); err == nil || !strings.Contains(err.Error(), "not fetched") {
		t.Errorf("forgotten URI: %v", err)
	}
}

func TestFailures(t *testing.T) {
	good := keySet(t, "k")
	srv := newServer(t, `{"keys": [`)
	f := jwks.New(jwks.Options{Refresh: time.Hour, Retry: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { f.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	bad, down := srv.URL+"/bad", "http://127.0.0.1:1/jwks"
	f.Sync(ctx, map[string]time.Duration{bad: time.Second, down: 200 * time.Millisecond})
	if _, err := f.JWKS(bad); err == nil || !strings.Contains(err.Error(), "invalid JSON") {
		t.Errorf("bad JSON: %v", err)
	}
	if _, err := f.JWKS(down); err == nil || !strings.Contains(err.Error(), "jwks: http://127.0.0.1:1/jwks") {
		t.Errorf("unreachable: %v", err)
	}
	// Retried at the retry interval, not the refresh interval.
	srv.set(200, good)
	waittest.Until(t, "the retry", func() bool { got, _ := f.JWKS(bad); return got == good })
	srv.set(404, "")
	other := srv.URL + "/missing"
	f.Sync(ctx, map[string]time.Duration{bad: 0, other: 0})
	if _, err := f.JWKS(other); err == nil || !strings.Contains(err.Error(), "status 404") {
		t.Errorf("404: %v", err)
	}
}
