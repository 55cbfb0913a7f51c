package stats

import (
	"strconv"
	"sync/atomic"
)

// Istio's buckets.
var (
	// DurationBuckets are istio_request_duration_milliseconds' bounds.
	DurationBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}
	// ByteBuckets are istio_request_bytes' and istio_response_bytes'.
	ByteBuckets = []float64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}
)

// histogram is a Prometheus histogram with fixed bounds: one atomic
// counter per bucket (non-cumulative; summed when written), the count in
// the last slot (+Inf), and the sum in units of 1/scale.
type histogram struct {
	bounds []float64
	counts []atomic.Uint64 // len(bounds)+1
	sum    atomic.Uint64   // in 1/scale units
	scale  float64
}

func newHistogram(bounds []float64, scale float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1), scale: scale}
}

// observe adds one value, given in 1/scale units (nanoseconds for
// milliseconds with scale 1e6, bytes with scale 1).
func (h *histogram) observe(units uint64) {
	v := float64(units) / h.scale
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(units)
}

// write appends the bucket, sum and count lines of one series.
func (h *histogram) write(b []byte, name, labels string) []byte {
	les := bucketLabels(h.bounds)
	var cum uint64
	for i := range h.bounds {
		cum += h.counts[i].Load()
		b = appendSampleSuffix(b, name, "_bucket", labels, les[i], float64(cum))
	}
	cum += h.counts[len(h.bounds)].Load()
	b = appendSampleSuffix(b, name, "_bucket", labels, `le="+Inf"`, float64(cum))
	b = appendSampleSuffix(b, name, "_sum", labels, "", float64(h.sum.Load())/h.scale)
	return appendSampleSuffix(b, name, "_count", labels, "", float64(cum))
}

// Bucket labels (le="0.5") of Istio's bounds, formatted once.
var (
	durationLabels = formatBuckets(DurationBuckets)
	byteLabels     = formatBuckets(ByteBuckets)
)

func bucketLabels(bounds []float64) []string {
	switch {
	case len(bounds) == 0:
		return nil
	case &bounds[0] == &DurationBuckets[0]:
		return durationLabels
	case &bounds[0] == &ByteBuckets[0]:
		return byteLabels
	}
	return formatBuckets(bounds)
}

func formatBuckets(bounds []float64) []string {
	out := make([]string, len(bounds))
	for i, b := range bounds {
		out[i] = `le="` + strconv.FormatFloat(b, 'g', -1, 64) + `"`
	}
	return out
}

func appendSampleSuffix(b []byte, name, suffix, labels, extra string, v float64) []byte {
	b = append(b, name...)
	return appendSample(b, suffix, labels, extra, v)
}

func appendSample(b []byte, name, labels, extra string, v float64) []byte {
	b = append(b, name...)
	b = append(b, '{')
	b = append(b, labels...)
	if extra != "" {
		if labels != "" {
			b = append(b, ',')
		}
		b = append(b, extra...)
	}
	b = append(b, "} "...)
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	return append(b, '\n')
}
