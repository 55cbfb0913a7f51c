package meshmetrics

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Target is one sidecar's admin address.
type Target struct {
	Name    string // namespace/pod, for the logs
	Address string // host:port
}

// Options configure a Scraper.
type Options struct {
	Targets  func() []Target // called every round
	Interval time.Duration   // 2s by default
	Keep     time.Duration   // history kept; 10m by default
	Timeout  time.Duration   // per scrape; 1s by default
	Client   *http.Client
	Now      func() time.Time
	Logger   *slog.Logger
}

// Scraper scrapes every target's /stats/prometheus each interval into a
// Store.
type Scraper struct {
	opts  Options
	store *Store
}

// NewScraper returns a scraper; Run starts it.
func NewScraper(o Options) *Scraper {
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Keep <= 0 {
		o.Keep = 10 * time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Scraper{opts: o, store: NewStore(o.Keep)}
}

// Store is where the scraped figures are kept.
func (s *Scraper) Store() *Store { return s.store }

// Interval is the time between rounds.
func (s *Scraper) Interval() time.Duration { return s.opts.Interval }

// Run scrapes every interval until ctx is done.
func (s *Scraper) Run(ctx context.Context) {
	tick := time.NewTicker(s.opts.Interval)
	defer tick.Stop()
	for {
		s.ScrapeOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ScrapeOnce scrapes every target once, in parallel, and commits the round.
func (s *Scraper) ScrapeOnce(ctx context.Context) {
	targets := s.opts.Targets()
	results := make([][]Sample, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			samples, err := s.scrape(ctx, t.Address)
			if err != nil {
				s.opts.Logger.Debug("scrape failed", "target", t.Name, "error", err)
				return
			}
			results[i] = samples
		})
	}
	wg.Wait()
	names := make([]string, 0, len(targets))
	for i, t := range targets {
		names = append(names, t.Address)
		if results[i] != nil {
			s.store.Add(t.Address, results[i])
		}
	}
	s.store.Retain(names)
	s.store.Commit(s.opts.Now())
}

func (s *Scraper) scrape(ctx context.Context, addr string) ([]Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/stats/prometheus", nil)
	if err != nil {
		return nil, fmt.Errorf("meshmetrics: scrape %s: %w", addr, err)
	}
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("meshmetrics: scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("meshmetrics: scrape %s: status %d", addr, resp.StatusCode)
	}
	samples, err := Parse(resp.Body, wanted)
	if err != nil {
		return nil, fmt.Errorf("meshmetrics: scrape %s: %w", addr, err)
	}
	return samples, nil
}
