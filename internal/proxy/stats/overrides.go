package stats

import (
	"fmt"
	"slices"
	"strings"
)

// metric indexes the eight metrics.
type metric int

const (
	mRequests metric = iota
	mDuration
	mRequestBytes
	mResponseBytes
	mTCPOpened
	mTCPClosed
	mTCPSent
	mTCPReceived
	numMetrics
)

// metricNames are the metrics' names without the istio_ prefix (Istio's
// stats plugin names, as in the xDS stats config).
var metricNames = [numMetrics]string{
	"requests_total", "request_duration_milliseconds", "request_bytes", "response_bytes",
	"tcp_connections_opened_total", "tcp_connections_closed_total", "tcp_sent_bytes_total", "tcp_received_bytes_total",
}

// MetricOverride is one entry of a listener's stats config: for the
// metric named (without istio_; "" for all), drop it, remove tags, or set
// tags to constant values.
type MetricOverride struct {
	Name   string
	Drop   bool
	Remove []string
	Set    map[string]string
}

// Overrides are the compiled metric overrides of one listener. Get them
// from Registry.Overrides, which returns one object per distinct content,
// so that they can key series.
type Overrides struct {
	key string
	per [numMetrics]perMetric
}

type perMetric struct {
	drop   bool
	remove map[string]bool
	set    [][2]string // sorted by name
}

// Overrides compiles (and interns) a listener's metric overrides; nil
// when there are none. An unknown metric name is an error.
func (r *Registry) Overrides(list []MetricOverride) (*Overrides, error) {
	if len(list) == 0 {
		return nil, nil
	}
	o := &Overrides{}
	for _, mo := range list {
		idx := -1
		if mo.Name != "" {
			idx = slices.Index(metricNames[:], strings.TrimPrefix(mo.Name, "istio_"))
			if idx < 0 {
				return nil, fmt.Errorf("stats: unknown metric %q", mo.Name)
			}
		}
		for m := range numMetrics {
			if idx >= 0 && int(m) != idx {
				continue
			}
			p := &o.per[m]
			p.drop = p.drop || mo.Drop
			for _, t := range mo.Remove {
				if p.remove == nil {
					p.remove = map[string]bool{}
				}
				p.remove[t] = true
			}
			for k, v := range mo.Set {
				p.set = slices.DeleteFunc(p.set, func(kv [2]string) bool { return kv[0] == k })
				p.set = append(p.set, [2]string{k, v})
			}
			slices.SortFunc(p.set, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
		}
	}
	o.key = o.String()
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev := r.overrides[o.key]; prev != nil {
		return prev, nil
	}
	r.overrides[o.key] = o
	return o, nil
}

// String is a canonical form of the overrides.
func (o *Overrides) String() string {
	var b strings.Builder
	for m, p := range o.per {
		if !p.drop && len(p.remove) == 0 && len(p.set) == 0 {
			continue
		}
		rm := make([]string, 0, len(p.remove))
		for t := range p.remove {
			rm = append(rm, t)
		}
		slices.Sort(rm)
		fmt.Fprintf(&b, "%s drop=%v remove=%v set=%v;", metricNames[m], p.drop, rm, p.set)
	}
	return b.String()
}

// apply returns the label pairs of one metric after the overrides.
func (o *Overrides) apply(m metric, pairs [][2]string) [][2]string {
	if o == nil {
		return pairs
	}
	p := &o.per[m]
	if len(p.remove) == 0 && len(p.set) == 0 {
		return pairs
	}
	out := make([][2]string, 0, len(pairs)+len(p.set))
	for _, kv := range pairs {
		if !p.remove[kv[0]] {
			out = append(out, kv)
		}
	}
	for _, kv := range p.set {
		if i := slices.IndexFunc(out, func(e [2]string) bool { return e[0] == kv[0] }); i >= 0 {
			out[i][1] = kv[1]
		} else {
			out = append(out, kv)
		}
	}
	return out
}

func (o *Overrides) dropped(m metric) bool { return o != nil && o.per[m].drop }

func renderLabels(pairs [][2]string) string {
	var b strings.Builder
	for i, kv := range pairs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[0])
		b.WriteString(`="`)
		b.WriteString(escape(kv[1]))
		b.WriteByte('"')
	}
	return b.String()
}
