package haltprom

import (
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// histogram counts store durations in fixed buckets with two atomic
// additions per observation (the bucket and the sum, in integer
// nanoseconds), about a third of what a client_golang Histogram costs;
// Collect exports it as a constant histogram. Observations that race a
// scrape may be in one of count and sum and not yet in the other, which
// the next scrape corrects.
type histogram struct {
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sumNs  atomic.Uint64
}

func newHistogram(buckets int) *histogram {
	return &histogram{counts: make([]atomic.Uint64, buckets+1)}
}

// observe adds d, bucketed by the upper bounds in nanoseconds.
func (h *histogram) observe(boundsNs []int64, d time.Duration) {
	ns := max(int64(d), 0)
	i := 0
	for i < len(boundsNs) && ns > boundsNs[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(ns))
}

// snapshot returns the count, the sum in seconds and the cumulative
// bucket counts by upper bound, as prometheus.NewConstHistogram takes them.
func (h *histogram) snapshot(bounds []float64) (uint64, float64, map[float64]uint64) {
	buckets := make(map[float64]uint64, len(bounds))
	var n uint64
	for i, b := range bounds {
		n += h.counts[i].Load()
		buckets[b] = n
	}
	n += h.counts[len(bounds)].Load()
	return n, float64(h.sumNs.Load()) / 1e9, buckets
}

// cleanBuckets returns bounds sorted, without duplicates, NaN or +Inf
// (the +Inf bucket is implicit), or nil when none is left.
func cleanBuckets(bounds []float64) []float64 {
	out := slices.DeleteFunc(slices.Clone(bounds), func(b float64) bool { return math.IsNaN(b) || math.IsInf(b, 1) })
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

// nanoseconds converts upper bounds in seconds to the largest whole
// nanosecond count each admits.
func nanoseconds(bounds []float64) []int64 {
	out := make([]int64, len(bounds))
	for i, b := range bounds {
		switch ns := math.Floor(b * 1e9); {
		case ns >= math.MaxInt64:
			out[i] = math.MaxInt64
		case ns < 0:
			out[i] = -1 // admits nothing: durations are never negative
		default:
			out[i] = int64(ns)
		}
	}
	return out
}
