package sample

import (
	"encoding/json"
	"net/http"
	"sync"
)

// countsPath reports how many requests the instance answered, in total and
// per Host header (gRPC calls included, by :authority), so tests can see
// where traffic went (a mirror's shadow copies carry the "-shadow"
// authority).
const countsPath = "/_sample/requests"

// Counts is the reply of countsPath.
type Counts struct {
	Total int            `json:"total"`
	Hosts map[string]int `json:"hosts"`
}

type requestCounts struct {
	mu sync.Mutex
	c  Counts
}

func newRequestCounts() *requestCounts {
	return &requestCounts{c: Counts{Hosts: map[string]int{}}}
}

func (rc *requestCounts) add(host string) {
	rc.mu.Lock()
	rc.c.Total++
	rc.c.Hosts[host]++
	rc.mu.Unlock()
}

func (rc *requestCounts) serve(w http.ResponseWriter) {
	rc.mu.Lock()
	b, err := json.Marshal(rc.c)
	rc.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
