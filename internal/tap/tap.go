// Package tap is the client side of the sidecars' live request stream
// (GET /debug/tap on each sidecar's admin address, NDJSON): it follows
// several sidecars at once and merges their events into one stream.
package tap

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	proxytap "github.com/halyard-mesh/halyard/internal/proxy/tap"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Event is one completed request as a sidecar reports it: the sidecar's
// own type, so the two ends of the stream cannot drift apart.
type Event = proxytap.Event

// Filter narrows the stream; the sidecar applies it.
type Filter struct {
	Method    string
	Path      string // prefix
	Authority string
	// Direction, when set, keeps only events of that direction.
	Direction string
}

// Sidecar is one stream to follow.
type Sidecar struct {
	Name    string // namespace/pod
	Address string // admin host:port
}

// Options configure Follow.
type Options struct {
	Client *http.Client
	Filter Filter
	// Retry is the pause before reconnecting to a sidecar whose stream
	// ended or failed; 1s by default.
	Retry time.Duration
	// OnError is told about every failed or ended stream (may be nil).
	OnError func(sidecar string, err error)
}

// Received is one event with the raw line it was decoded from.
type Received struct {
	Sidecar string
	Event   Event
	Raw     []byte
}

// Follow streams every sidecar's events into emit, one call at a time,
// until ctx is done, reconnecting to sidecars whose stream ends.
func Follow(ctx context.Context, sidecars []Sidecar, o Options, emit func(Received)) {
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Retry <= 0 {
		o.Retry = time.Second
	}
	events := make(chan Received)
	var wg sync.WaitGroup
	for _, s := range sidecars {
		wg.Go(func() { follow(ctx, s, o, events) })
	}
	go func() { wg.Wait(); close(events) }()
	for ev := range events {
		emit(ev)
	}
}

// follow keeps one sidecar's stream open until ctx is done.
func follow(ctx context.Context, s Sidecar, o Options, out chan<- Received) {
	for {
		err := stream(ctx, s, o, out)
		if ctx.Err() != nil {
			return
		}
		if o.OnError != nil {
			o.OnError(s.Name, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(o.Retry):
		}
	}
}

func stream(ctx context.Context, s Sidecar, o Options, out chan<- Received) error {
	q := url.Values{}
	for k, v := range map[string]string{"method": o.Filter.Method, "path": o.Filter.Path, "authority": o.Filter.Authority} {
		if v != "" {
			q.Set(k, v)
		}
	}
	u := "http://" + s.Address + "/debug/tap"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("tap: %s: %w", s.Name, err)
	}
	resp, err := o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("tap: %s: %w", s.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("tap: %s: %s answered %d", s.Name, u, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return fmt.Errorf("tap: %s: bad event %q: %w", s.Name, line, err)
		}
		if o.Filter.Direction != "" && ev.Direction != o.Filter.Direction {
			continue
		}
		select {
		case out <- Received{Sidecar: s.Name, Event: ev, Raw: append([]byte(nil), line...)}:
		case <-ctx.Done():
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("tap: %s: %w", s.Name, err)
	}
	return fmt.Errorf("tap: %s: stream ended", s.Name)
}

// Format renders an event as one line of text.
func Format(ev Event) string {
	t := ev.Time
	if ts, err := time.Parse(time.RFC3339Nano, ev.Time); err == nil {
		t = ts.Format("15:04:05.000")
	}
	status := fmt.Sprint(ev.Status)
	if ev.GRPCStatus != "" {
		status += " grpc=" + ev.GRPCStatus
	}
	flags := ev.Flags
	if flags == "" {
		flags = "-"
	}
	return fmt.Sprintf("%s %s %s %s %s %.1fms %s %s.%s -> %s (%s %s)", t, ev.Protocol, ev.Method, ev.Path, status,
		ev.DurationMs, flags, orUnknown(ev.SourceWorkload), orUnknown(ev.SourceNamespace),
		orUnknown(ev.DestinationService), orUnknown(ev.DestinationWorkload), orUnknown(ev.UpstreamHost))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
