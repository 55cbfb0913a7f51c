package sample

import "sync"

// activity counts open connections and running handlers. Unlike a
// sync.WaitGroup, it may go up from zero while someone waits: an HTTP/2
// handler goroutine can start after its connection was counted closed.
type activity struct {
	mu   sync.Mutex
	cond sync.Cond
	n    int
}

func (a *activity) add(delta int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n += delta
	if a.n == 0 {
		a.cond.Broadcast() // Broadcast does not need cond.L
	}
}

// wait blocks until the count is zero.
func (a *activity) wait() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cond.L == nil {
		a.cond.L = &a.mu
	}
	for a.n > 0 {
		a.cond.Wait()
	}
}
