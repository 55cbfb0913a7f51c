package meshmetrics

import (
	"slices"
	"strconv"
	"strings"
)

// Buckets are Istio's bounds, in milliseconds, for
// istio_request_duration_milliseconds.
var Buckets = [...]float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
	30000, 60000, 300000, 600000, 1800000, 3600000}

// Node is a vertex of the service graph: a service (or, for a client that
// serves nothing, a workload) in one version.
type Node struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Version   string `json:"version"`
}

// ID names the node in the graph: "reviews.default:v2".
func (n Node) ID() string { return n.Name + "." + n.Namespace + ":" + n.Version }

// EdgeKey is one directed edge of the service graph.
type EdgeKey struct {
	Source      Node
	Destination Node
	Protocol    string // request_protocol: http, grpc
}

// counters are monotonic totals for one edge, summed over every sidecar.
type counters struct {
	requests, errors, mtls, sumMs float64
	buckets                       [len(Buckets)]float64 // cumulative, by Buckets
}

// field says which counters a series adds to.
type field struct {
	requests, errors, mtls, sum bool
	bucket                      int // index into Buckets; -1 for none
}

func (c *counters) add(f field, v float64) {
	if f.requests {
		c.requests += v
	}
	if f.errors {
		c.errors += v
	}
	if f.mtls {
		c.mtls += v
	}
	if f.sum {
		c.sumMs += v
	}
	if f.bucket >= 0 {
		c.buckets[f.bucket] += v
	}
}

func (c *counters) sub(o *counters) counters {
	d := counters{requests: c.requests - o.requests, errors: c.errors - o.errors, mtls: c.mtls - o.mtls, sumMs: c.sumMs - o.sumMs}
	for i := range c.buckets {
		d.buckets[i] = c.buckets[i] - o.buckets[i]
	}
	return d
}

func (c *counters) plus(o counters) {
	c.requests, c.errors, c.mtls, c.sumMs = c.requests+o.requests, c.errors+o.errors, c.mtls+o.mtls, c.sumMs+o.sumMs
	for i := range c.buckets {
		c.buckets[i] += o.buckets[i]
	}
}

// wanted are the metric names the store reads.
func wanted(name string) bool {
	return name == "istio_requests_total" || strings.HasPrefix(name, "istio_request_duration_milliseconds_")
}

// classify maps one sample to its edge and the counters it adds to. A
// request is counted once: by the destination's sidecar, or by the
// source's when the destination has none.
func classify(s *Sample) (EdgeKey, field, bool) {
	l := s.Labels
	switch l["reporter"] {
	case "destination":
	case "source":
		if w := l["destination_workload"]; w != "" && w != "unknown" {
			return EdgeKey{}, field{}, false
		}
	default:
		return EdgeKey{}, field{}, false
	}
	f := field{bucket: -1}
	switch s.Name {
	case "istio_requests_total":
		f.requests = true
		f.errors = isError(l["response_code"])
		f.mtls = l["connection_security_policy"] == "mutual_tls"
	case "istio_request_duration_milliseconds_sum":
		f.sum = true
	case "istio_request_duration_milliseconds_bucket":
		le, err := strconv.ParseFloat(l["le"], 64)
		if f.bucket = slices.Index(Buckets[:], le); err != nil || f.bucket < 0 {
			return EdgeKey{}, field{}, false // +Inf is the request count
		}
	default:
		return EdgeKey{}, field{}, false
	}
	return edgeOf(l), f, true
}

func edgeOf(l map[string]string) EdgeKey {
	src := Node{
		Name:      first(l["source_canonical_service"], l["source_app"], l["source_workload"]),
		Namespace: first(l["source_workload_namespace"]),
		Version:   first(l["source_canonical_revision"], l["source_version"]),
	}
	dst := Node{
		Name:      first(l["destination_service_name"], l["destination_canonical_service"], l["destination_service"]),
		Namespace: first(l["destination_service_namespace"], l["destination_workload_namespace"]),
		Version:   first(l["destination_canonical_revision"], l["destination_version"]),
	}
	return EdgeKey{Source: src, Destination: dst, Protocol: l["request_protocol"]}
}

// first returns the first known value, or "unknown".
func first(vs ...string) string {
	for _, v := range vs {
		if v != "" && v != "unknown" {
			return v
		}
	}
	return "unknown"
}

// isError: a 5xx, or no response at all (code 0).
func isError(code string) bool {
	return strings.HasPrefix(code, "5") || code == "0"
}

// seriesID identifies a sample's series within one sidecar.
func seriesID(s *Sample) string {
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(s.Name)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(s.Labels[k])
	}
	return b.String()
}
