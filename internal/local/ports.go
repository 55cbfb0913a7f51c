package local

import (
	"fmt"
	"net"
	"sync"
)

// portAllocator hands out free loopback ports, never the same one twice in
// one run, so a restarting process cannot collide with a neighbour.
type portAllocator struct {
	host string
	mu   sync.Mutex
	used map[int]bool
}

func newPortAllocator(host string) *portAllocator {
	return &portAllocator{host: host, used: map[int]bool{}}
}

// next returns an address with a port that was free a moment ago.
func (a *portAllocator) next() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", net.JoinHostPort(a.host, "0"))
		if err != nil {
			return "", fmt.Errorf("local: allocate port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !a.used[port] {
			a.used[port] = true
			return ln.Addr().String(), nil
		}
	}
	return "", fmt.Errorf("local: allocate port: no new free port found")
}
