package e2e

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const reviewsAllV2 = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
      weight: 0
    - destination:
        host: reviews
        subset: v2
      weight: 100
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
  - name: v3
    labels:
      version: v3
`

// TestShiftUnderLoad rewrites the VirtualService on disk to 0/100 while 20
// clients send continuously: all traffic must reach v2 within 2 s of the
// save, and no request may fail.
func TestShiftUnderLoad(t *testing.T) {
	m := startMesh(t, bookinfo())
	c := m.client("halyard-exec")

	var (
		stop      atomic.Bool
		failures  atomic.Int64
		total     atomic.Int64
		mu        sync.Mutex
		lastOther time.Time // completion time of the last non-v2 reply
		firstErr  string
		wg        sync.WaitGroup
	)
	for range 20 {
		wg.Go(func() {
			for !stop.Load() {
				status, version, body, err := get(c, "http://reviews:9080/", nil)
				done := time.Now()
				total.Add(1)
				if err != nil || status != http.StatusOK {
					failures.Add(1)
					mu.Lock()
					if firstErr == "" {
						firstErr = string(body)
						if err != nil {
							firstErr = err.Error()
						}
					}
					mu.Unlock()
					continue
				}
				if version != "v2" {
					mu.Lock()
					if done.After(lastOther) {
						lastOther = done
					}
					mu.Unlock()
				}
			}
		})
	}
	waitFor(t, 5*time.Second, func() bool { return total.Load() > 200 })
	saved := time.Now()
	m.write("networking.yaml", reviewsAllV2)
	waitFor(t, 10*time.Second, func() bool { return time.Since(saved) > 3*time.Second })
	stop.Store(true)
	wg.Wait()

	shift := lastOther.Sub(saved)
	t.Logf("%d requests by 20 clients, %d failed; last non-v2 reply %s after the save (want < 2s)", total.Load(), failures.Load(), shift.Round(time.Millisecond))
	if failures.Load() != 0 {
		t.Errorf("%d requests failed during the shift; first: %s", failures.Load(), firstErr)
	}
	if shift > 2*time.Second {
		t.Errorf("traffic still reached other versions %s after the save", shift)
	}
	counts := countVersions(t, c, "http://reviews:9080/", nil, 200)
	if counts["v2"] != 200 {
		t.Errorf("after the shift: %v, want all v2", counts)
	}
}

// TestBrokenEditKeepsLastGoodConfig saves a VirtualService with an unknown
// field: the error names the file, the line and the field, and traffic keeps
// flowing on the old routes.
func TestBrokenEditKeepsLastGoodConfig(t *testing.T) {
	m := startMesh(t, bookinfo())
	c := m.client("halyard-exec")
	broken := strings.Replace(reviewsAllV2, "      weight: 100", "      weight: 100\n      wieght: 5", 1)
	m.write("networking.yaml", broken)
	out := m.waitLog(5*time.Second, "networking.yaml:18", "spec.http[0].route[1].wieght", "keeping the last good configuration")
	t.Logf("reported:\n%s", lastLines(out, 4))

	counts := countVersions(t, c, "http://reviews:9080/", nil, 400)
	t.Logf("after the broken edit, 400 requests: %v", counts)
	if counts["v1"] < 340 || counts["v2"] != 0 {
		t.Errorf("traffic did not stay on the old routes (95%% v1, 5%% v3): %v", counts)
	}

	m.write("networking.yaml", reviewsAllV2)
	m.waitLog(5*time.Second, "config applied")
	waitFor(t, 2*time.Second, func() bool {
		_, v, _, _ := get(c, "http://reviews:9080/", nil)
		return v == "v2"
	})
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
