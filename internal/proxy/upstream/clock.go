package upstream

import "time"

// Clock is the time source of outlier detection; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d, unless stopped.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started; it reports whether it
	// did.
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Option configures a Manager.
type Option func(*Manager)

// WithClock makes the manager's clusters use c for outlier detection.
func WithClock(c Clock) Option { return func(m *Manager) { m.clock = c } }
