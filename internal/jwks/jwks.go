// Package jwks is the control plane's JWKS fetcher: it fetches the key
// sets behind RequestAuthentication jwksUris, keeps them, refreshes them
// on an interval (Istio's default: 20 minutes) so that keys rotate without
// a restart, and retries failed fetches sooner. The xds translation reads
// them (Fetcher.JWKS) and sends them inline to the sidecars; when a
// refresh changes a key set, OnChange asks for a new push.
//
// A URI that was never fetched successfully reports its error, and the
// translation gives its provider a key nobody has (Istio's behaviour):
// its tokens fail while requests without a token pass. A refresh that
// fails keeps the last good keys.
package jwks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/halyard-mesh/halyard/internal/jwk"
)

// Defaults.
const (
	DefaultRefresh = 20 * time.Minute
	DefaultRetry   = 5 * time.Second
	DefaultTimeout = 5 * time.Second
)

// Options configure a Fetcher.
type Options struct {
	// Client makes the requests; http.DefaultClient when nil.
	Client *http.Client
	// Refresh is how often a key set is fetched again (DefaultRefresh);
	// Retry how soon after a failure (DefaultRetry, at most Refresh).
	Refresh, Retry time.Duration
	// Now and After are the clock; time.Now and time.After by default.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	Log   *slog.Logger
	// OnChange is called (from Run's goroutine) after a refresh changed
	// some key set.
	OnChange func()
}

// entry is one URI's state.
type entry struct {
	keys    string // last good key set, "" when never fetched
	err     error  // the last fetch's error
	timeout time.Duration
	next    time.Time // when to fetch again
}

// Fetcher keeps the key sets of a set of URIs. It is safe for concurrent
// use.
type Fetcher struct {
	o    Options
	wake chan struct{}

	mu      sync.Mutex
	entries map[string]*entry
}

// New returns a Fetcher; Run keeps it refreshing.
func New(o Options) *Fetcher {
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultRefresh
	}
	if o.Retry <= 0 {
		o.Retry = DefaultRetry
	}
	o.Retry = min(o.Retry, o.Refresh)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Fetcher{o: o, wake: make(chan struct{}, 1), entries: map[string]*entry{}}
}

// JWKS returns the last good key set of uri, or the error of its fetch.
func (f *Fetcher) JWKS(uri string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.entries[uri]
	switch {
	case e == nil:
		return "", fmt.Errorf("jwks: %s: not fetched", uri)
	case e.keys == "":
		return "", e.err
	}
	return e.keys, nil
}

// Sync makes uris (with their fetch timeouts; 0 for DefaultTimeout) the
// set to keep: URIs not seen before are fetched now, in parallel, and
// Sync returns when they are done (each bounded by its timeout); URIs no
// longer wanted are forgotten.
func (f *Fetcher) Sync(ctx context.Context, uris map[string]time.Duration) {
	var fresh []string
	f.mu.Lock()
	for u := range f.entries {
		if _, ok := uris[u]; !ok {
			delete(f.entries, u)
		}
	}
	for u, t := range uris {
		if t <= 0 {
			t = DefaultTimeout
		}
		if e, ok := f.entries[u]; ok {
			e.timeout = t
			continue
		}
		f.entries[u] = &entry{timeout: t}
		fresh = append(fresh, u)
	}
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, u := range fresh {
		wg.Go(func() { f.refresh(ctx, u) })
	}
	wg.Wait()
	select {
	case f.wake <- struct{}{}: // Run recomputes its next deadline
	default:
	}
}

// Run refreshes the key sets when they are due until ctx is done.
func (f *Fetcher) Run(ctx context.Context) {
	for {
		wait := f.o.Refresh
		if next, ok := f.nextDue(); ok {
			wait = max(next.Sub(f.o.Now()), 0)
		}
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
			continue
		case <-f.o.After(wait):
		}
		changed := false
		for _, u := range f.due() {
			if f.refresh(ctx, u) {
				changed = true
			}
		}
		if changed && f.o.OnChange != nil {
			f.o.OnChange()
		}
	}
}

func (f *Fetcher) nextDue() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var next time.Time
	for _, e := range f.entries {
		if next.IsZero() || e.next.Before(next) {
			next = e.next
		}
	}
	return next, !next.IsZero()
}

func (f *Fetcher) due() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.o.Now()
	var out []string
	for u, e := range f.entries {
		if !e.next.After(now) {
			out = append(out, u)
		}
	}
	return out
}

// refresh fetches one URI and records the outcome; it reports whether
// its key set changed.
func (f *Fetcher) refresh(ctx context.Context, uri string) bool {
	f.mu.Lock()
	e := f.entries[uri]
	var timeout time.Duration
	if e != nil {
		timeout = e.timeout
	}
	f.mu.Unlock()
	if e == nil {
		return false // forgotten meanwhile
	}
	keys, err := f.fetch(ctx, uri, timeout)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.entries[uri] != e {
		return false
	}
	e.err = err
	if err != nil {
		e.next = f.o.Now().Add(f.o.Retry)
		if e.keys == "" {
			f.o.Log.Error("jwks fetch failed: tokens of this issuer fail until it succeeds", "uri", uri, "error", err)
		} else {
			f.o.Log.Warn("jwks refresh failed: keeping the last keys", "uri", uri, "error", err)
		}
		return false
	}
	e.next = f.o.Now().Add(f.o.Refresh)
	if keys == e.keys {
		return false
	}
	f.o.Log.Info("jwks fetched", "uri", uri, "bytes", len(keys))
	e.keys = keys
	return true
}

func (f *Fetcher) fetch(ctx context.Context, uri string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return "", fmt.Errorf("jwks: %s: %w", uri, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.o.Client.Do(req)
	if err != nil {
		return "", fmt.Errorf("jwks: %s: %w", uri, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("jwks: %s: status %d", uri, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwk.MaxSetSize+1))
	if err != nil {
		return "", fmt.Errorf("jwks: %s: %w", uri, err)
	}
	if len(body) > jwk.MaxSetSize {
		return "", fmt.Errorf("jwks: %s: %w", uri, errors.New("key set over 1 MiB"))
	}
	if _, err := jwk.ParseSet(body); err != nil {
		return "", fmt.Errorf("jwks: %s: %w", uri, err)
	}
	return string(body), nil
}
