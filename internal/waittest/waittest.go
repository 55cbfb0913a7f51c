// Package waittest waits in tests for a condition that another goroutine
// or process makes true, polling it, with a deadline that fails the test.
package waittest

import (
	"testing"
	"time"
)

// Timeout is how long Until waits.
const Timeout = 5 * time.Second

// Until polls cond every 5 ms until it holds, and fails the test with
// "timed out waiting for <what>" after Timeout.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
