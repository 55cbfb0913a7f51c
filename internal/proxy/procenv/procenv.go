// Package procenv holds the environment a launcher gives the sidecar
// process (halyard-proxy): settings of the Go runtime that must be in place
// before the process starts, so they cannot be flags.
package procenv

// GODEBUG keeps the Go runtime's monitor thread (sysmon) out of its deep
// sleep. Without it, whenever every P of the proxy is idle (between two
// requests, at any rate below saturation) sysmon parks, and the next
// system call (every read and write of a proxied request) has to wake it
// with a futex; sysmon then polls every 20 µs for a millisecond before it
// backs off again. At 1000 requests/s that cost the sidecar about a fifth
// of its CPU (docs/performance.md). With schedtrace set, sysmon never
// parks and settles at one wake-up every 10 ms when the proxy is idle.
//
// The period is the largest the runtime accepts (about 24.8 days): the
// scheduler trace itself is printed at most once per period, and a first
// time at start-up on a machine up for longer than that.
const GODEBUG = "schedtrace=2147483647"

// Env returns the variables to add to the sidecar's environment.
func Env() []string { return []string{"GODEBUG=" + GODEBUG} }
