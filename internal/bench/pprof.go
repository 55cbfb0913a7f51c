package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// profileConnections is the connection count of the profiling run.
const profileConnections = 16

// sidecarAdmin is one sidecar to profile: its role and admin address.
type sidecarAdmin struct{ role, addr string }

// profileSidecars loads the Halyard chain at the fixed rate while fetching
// a CPU profile of each sidecar from its admin address
// (/debug/pprof/profile), then summarises each with `go tool pprof -top`.
func (h *harness) profileSidecars(ctx context.Context, ch chain, sidecars []sidecarAdmin) []Profile {
	seconds := max(int(h.opts.Duration.Seconds()), 1)
	out := make([]Profile, len(sidecars))
	var wg sync.WaitGroup
	loadErr := make(chan error, 1)
	wg.Go(func() {
		_, err := h.runLoad(ctx, "profile", loadSpec{
			URL: ch.url, Proxy: ch.proxy, Std: true, QPS: h.opts.QPS, Connections: profileConnections,
			Duration: time.Duration(seconds+1) * time.Second, JSONPath: filepath.Join(h.raw, "profile-load.json"),
		})
		loadErr <- err
	})
	time.Sleep(500 * time.Millisecond) // let the load start first
	for i, s := range sidecars {
		wg.Go(func() { out[i] = h.profileOne(ctx, "sidecar-"+s.role, s.addr, h.tools.Proxy, seconds) })
	}
	wg.Wait()
	if err := <-loadErr; err != nil {
		for i := range out {
			if out[i].Error == "" {
				out[i].Error = "the load during the profile failed: " + err.Error()
			}
		}
	}
	return out
}

// profileOne fetches a CPU profile from a /debug/pprof address and
// summarises it with `go tool pprof -top`.
func (h *harness) profileOne(ctx context.Context, name, addr, binary string, seconds int) Profile {
	p := Profile{Name: name}
	file := filepath.Join(h.results, "pprof", name+".pb.gz")
	if err := fetchProfile(ctx, addr, seconds, file); err != nil {
		p.Error = err.Error()
		return p
	}
	p.File = filepath.Join("pprof", filepath.Base(file))
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := runCommand(ctx, []string{h.tools.Go, "tool", "pprof", "-top", "-nodecount=25", binary, file}, os.Environ(), h.work)
	if err != nil {
		p.Error = fmt.Sprintf("go tool pprof: %v", err)
		return p
	}
	p.Top = out
	_ = os.WriteFile(filepath.Join(h.results, "pprof", name+"-top.txt"), []byte(out), 0o644)
	return p
}

// fetchProfile saves a CPU profile from a sidecar's admin address.
func fetchProfile(ctx context.Context, admin string, seconds int, file string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, seconds)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("bench: pprof: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("bench: pprof: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("bench: no CPU profile at %s (the proxy's admin address serves no /debug/pprof): %s %q", url, resp.Status, body)
	}
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("bench: pprof: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return fmt.Errorf("bench: pprof: %w", err)
	}
	return f.Close()
}
