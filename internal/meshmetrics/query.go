package meshmetrics

import (
	"sort"
	"time"
)

// Edge is one edge of the service graph with its figures.
type Edge struct {
	Source      string `json:"source"` // node IDs
	Destination string `json:"destination"`
	Protocol    string `json:"protocol"`
	Stats
}

// Graph is the service graph over a window.
type Graph struct {
	Nodes []Node `json:"nodes"`
	Edges []Edge `json:"edges"`
}

// Graph returns every node and edge seen in the kept history, with the
// figures of the last window (zero for edges without traffic in it).
func (s *Store) Graph(w time.Duration) Graph {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := Graph{Nodes: []Node{}, Edges: []Edge{}}
	end := len(s.ring) - 1
	if end < 0 {
		return g
	}
	from, ok := s.window(end, w)
	seconds := 0.0
	if ok {
		seconds = s.ring[end].at.Sub(s.ring[from].at).Seconds()
	}
	nodes := map[string]Node{}
	for k, c := range s.ring[end].totals {
		nodes[k.Source.ID()], nodes[k.Destination.ID()] = k.Source, k.Destination
		e := Edge{Source: k.Source.ID(), Destination: k.Destination.ID(), Protocol: k.Protocol}
		if ok {
			old := s.ring[from].totals[k]
			e.Stats = statsOf(c.sub(&old), seconds)
		}
		g.Edges = append(g.Edges, e)
	}
	for _, n := range nodes {
		g.Nodes = append(g.Nodes, n)
	}
	sort.Slice(g.Nodes, func(i, j int) bool { return g.Nodes[i].ID() < g.Nodes[j].ID() })
	sort.Slice(g.Edges, func(i, j int) bool {
		a, b := g.Edges[i], g.Edges[j]
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		if a.Destination != b.Destination {
			return a.Destination < b.Destination
		}
		return a.Protocol < b.Protocol
	})
	return g
}

// Point is a service's figures at one time.
type Point struct {
	Time time.Time `json:"time"`
	Stats
}

// Series returns a service's inbound figures (every version, every source)
// at each kept point, each over the w before it.
func (s *Store) Series(name, namespace string, w time.Duration) []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Point{}
	for end := range s.ring {
		from, ok := s.window(end, w)
		if !ok {
			continue
		}
		var d counters
		for k, c := range s.ring[end].totals {
			if k.Destination.Name == name && k.Destination.Namespace == namespace {
				old := s.ring[from].totals[k]
				d.plus(c.sub(&old))
			}
		}
		seconds := s.ring[end].at.Sub(s.ring[from].at).Seconds()
		out = append(out, Point{Time: s.ring[end].at, Stats: statsOf(d, seconds)})
	}
	return out
}
