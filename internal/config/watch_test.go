package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The interval callers use; the watcher must report a change within it.
const watchInterval = 200 * time.Millisecond

type change struct {
	snap  *Snapshot
	diags []Diagnostic
}

// startWatch runs Watch on paths until the test ends, and checks that it
// returns once its context is cancelled.
func startWatch(t *testing.T, paths ...string) <-chan change {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	changes := make(chan change, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watch(ctx, paths, watchInterval, func(s *Snapshot, d []Diagnostic) { changes <- change{s, d} })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Watch did not return after its context was cancelled")
		}
	})
	return changes
}

// next waits for the next change for at most timeout.
func next(t *testing.T, changes <-chan change, timeout time.Duration, what string) change {
	t.Helper()
	select {
	case c := <-changes:
		return c
	case <-time.After(timeout):
		t.Fatalf("%s: no change reported within %v", what, timeout)
		return change{}
	}
}

// servicePort returns the port of the Service named name in s.
func servicePort(s *Snapshot, name string) int32 {
	for _, svc := range s.Services {
		if svc.Name == name {
			return svc.Spec.Ports[0].Port
		}
	}
	return 0
}

func withPort(port string) string {
	return strings.Replace(svcReviews, "port: 9080", "port: "+port, 1)
}

func TestWatchEditsAndRenames(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "reviews.yaml")
	writeFile(t, path, withPort("9080"))
	changes := startWatch(t, dir)

	if c := next(t, changes, watchInterval, "start"); c.snap == nil || servicePort(c.snap, "reviews") != 9080 {
		t.Fatalf("initial load: %+v", c)
	}

	writeFile(t, path, withPort("9081"))
	if c := next(t, changes, watchInterval, "edit in place"); c.snap == nil || servicePort(c.snap, "reviews") != 9081 {
		t.Fatalf("after edit: %+v", c)
	}

	// An editor's save: write a temporary file, rename it over the original.
	tmp := filepath.Join(dir, ".reviews.yaml.swp")
	writeFile(t, tmp, withPort("9082"))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if c := next(t, changes, watchInterval, "rename in place"); c.snap == nil || servicePort(c.snap, "reviews") != 9082 {
		t.Fatalf("after rename: %+v", c)
	}

	// Rewriting the same bytes is no change: the next report must be the
	// file added after it.
	writeFile(t, path, withPort("9082"))
	writeFile(t, filepath.Join(dir, "ratings.yaml"), strings.ReplaceAll(withPort("9083"), "reviews", "ratings"))
	c := next(t, changes, watchInterval, "file added")
	if c.snap == nil || servicePort(c.snap, "reviews") != 9082 || servicePort(c.snap, "ratings") != 9083 {
		t.Fatalf("after adding a file: %+v", c)
	}

	if err := os.Remove(filepath.Join(dir, "ratings.yaml")); err != nil {
		t.Fatal(err)
	}
	if c := next(t, changes, watchInterval, "file removed"); c.snap == nil || len(c.snap.Services) != 1 {
		t.Fatalf("after removing a file: %+v", c)
	}

	writeFile(t, path, "apiVersion: v1\nkind: Service\n")
	c = next(t, changes, watchInterval, "broken file")
	if c.snap != nil || len(c.diags) != 1 || !strings.HasSuffix(c.diags[0].String(), "reviews.yaml:1: Service: metadata.name: missing required field") {
		t.Fatalf("broken file: snapshot %v, diagnostics %q", c.snap != nil, texts(c.diags))
	}
}

func TestWatchFileRemovedAndRestored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reviews.yaml")
	writeFile(t, path, svcReviews)
	changes := startWatch(t, path)
	next(t, changes, watchInterval, "start")

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	c := next(t, changes, watchInterval, "file removed")
	if c.snap != nil || len(c.diags) != 1 || !strings.Contains(c.diags[0].Message, "no such file") {
		t.Fatalf("removed: snapshot %v, diagnostics %q", c.snap != nil, texts(c.diags))
	}
	writeFile(t, path, svcReviews)
	if c := next(t, changes, watchInterval, "file restored"); c.snap == nil || len(c.diags) != 0 {
		t.Fatalf("restored: %+v", c)
	}
}
