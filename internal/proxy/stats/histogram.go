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

// buckets are a histogram's bounds with their le="..." labels, formatted
// once and shared by every series.
type buckets struct {
	bounds []float64
	les    []string
}

func newBuckets(bounds []float64) *buckets {
	bs := &buckets{bounds: bounds, les: make([]string, len(bounds))}
	for i, b := range bounds {
		bs.les[i] = `le="` + strconv.FormatFloat(b, 'g', -1, 64) + `"`
	}
	return bs
}

var (
	durationBuckets = newBuckets(DurationBuckets)
	byteBuckets     = newBuckets(ByteBuckets)
)

// histogram is a Prometheus histogram with fixed bounds: one atomic
// counter per bucket (non-cumulative; summed when written), the count in
// the last slot (+Inf), and the sum in units of 1/scale.
type histogram struct {
	*buckets
	counts []atomic.Uint64 // len(bounds)+1
	sum    atomic.Uint64   // in 1/scale units
	scale  float64
}

func newHistogram(bs *buckets, scale float64) *histogram {
	return &histogram{buckets: bs, counts: make([]atomic.Uint64, len(bs.bounds)+1), scale: scale}
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
	var cum uint64
	for i := range h.bounds {
		cum += h.counts[i].Load()
		b = appendSampleSuffix(b, name, "_bucket", labels, h.les[i], float64(cum))
	}
	cum += h.counts[len(h.bounds)].Load()
	b = appendSampleSuffix(b, name, "_bucket", labels, `le="+Inf"`, float64(cum))
	b = appendSampleSuffix(b, name, "_sum", labels, "", float64(h.sum.Load())/h.scale)
	return appendSampleSuffix(b, name, "_count", labels, "", float64(cum))
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
