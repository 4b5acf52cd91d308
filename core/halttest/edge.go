package halttest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
)

// edgeYears is the longest window and cooldown Validate accepts.
const edgeYears = 10 * 366 * 24 * time.Hour

// edgeMax is the largest limit and burst Validate accepts.
const edgeMax = 1 << 40

// EdgePolicies are the policies at the edges of what Validate accepts: tiny
// and huge windows, precisions, limits, costs and cooldowns. Every store
// must decide each exactly as core's Policy.Decide does (see
// [RunStoreTests]). Each has a placeholder name; the suite makes it unique.
func EdgePolicies() []halt.Policy {
	us := time.Microsecond
	return []halt.Policy{
		{Name: "tb-1us", Limit: 1, Window: us},
		{Name: "tb-3-per-7us-burst-5", Limit: 3, Window: 7 * us, Burst: 5},
		{Name: "tb-7-per-1s1us", Limit: 7, Window: time.Second + us},
		{Name: "tb-huge-rate", Limit: edgeMax, Window: us},
		{Name: "tb-1-per-10y", Limit: 1, Window: edgeYears},
		{Name: "tb-max-10y-cost", Limit: edgeMax, Window: edgeYears, Cost: edgeMax / 2},
		{Name: "tb-odd-cost", Limit: 10, Window: time.Minute, Burst: 13, Cost: 4},
		{Name: "tb-block-1us", Limit: 2, Window: time.Second, BlockDuration: us},
		{Name: "tb-block-10y", Limit: 2, Window: time.Second, BlockDuration: edgeYears},
		{Name: "fw-1us", Limit: 1, Window: us, Algorithm: halt.FixedWindow},
		{Name: "fw-1min1us", Limit: 3, Window: time.Minute + us, Algorithm: halt.FixedWindow},
		{Name: "fw-max-10y", Limit: edgeMax, Window: edgeYears, Cost: edgeMax / 3, Algorithm: halt.FixedWindow},
		{Name: "fw-block-1500us", Limit: 2, Window: time.Millisecond, BlockDuration: 1500 * us,
			Algorithm: halt.FixedWindow},
		{Name: "sw-1us-p1", Limit: 1, Window: us, Precision: 1, Algorithm: halt.SlidingWindow},
		{Name: "sw-1ms-p1000", Limit: 3, Window: time.Millisecond, Precision: halt.MaxPrecision,
			Algorithm: halt.SlidingWindow},
		{Name: "sw-1min-p480", Limit: 4, Window: time.Minute, Precision: 480, Algorithm: halt.SlidingWindow},
		{Name: "sw-1min-p1000", Limit: 4, Window: time.Minute, Precision: halt.MaxPrecision,
			Algorithm: halt.SlidingWindow},
		{Name: "sw-10y-p1000", Limit: edgeMax, Window: edgeYears, Precision: halt.MaxPrecision,
			Cost: edgeMax / 2, Algorithm: halt.SlidingWindow},
		{Name: "sw-cost-block", Limit: 5, Window: time.Second, Precision: 5, Cost: 2,
			BlockDuration: 3 * time.Millisecond, Algorithm: halt.SlidingWindow},
	}
}

// edgeInvalid are policies no store can decide exactly (durations finer
// than the microsecond Redis and the suites count in): Validate must reject
// each, naming the field.
var edgeInvalid = []struct {
	p     halt.Policy
	field string
}{
	{halt.Policy{Name: "sw-1min-p512", Limit: 5, Window: time.Minute, Precision: 512,
		Algorithm: halt.SlidingWindow}, "Precision"},
	{halt.Policy{Name: "sw-1s-p128", Limit: 5, Window: time.Second, Precision: 128,
		Algorithm: halt.SlidingWindow}, "Precision"},
	{halt.Policy{Name: "tb-1min500ns", Limit: 5, Window: time.Minute + 500}, "Window"},
	{halt.Policy{Name: "fw-1min500ns", Limit: 5, Window: time.Minute + 500, Algorithm: halt.FixedWindow}, "Window"},
	{halt.Policy{Name: "block-1500ns", Limit: 5, Window: time.Minute, BlockDuration: 1500}, "BlockDuration"},
}

// edgeSchedule is when (after Base) and at what cost the edge run takes:
// a burst at once, then instants around the sub-window, the window and
// twice the window.
func edgeSchedule(p *halt.Policy) []time.Duration {
	w := p.Window
	sub := w
	if p.Algorithm == halt.SlidingWindow {
		sub = w / time.Duration(p.SubWindows())
	}
	us := time.Microsecond
	at := []time.Duration{0, 0, 0, 0, 0, 0, us, us, sub - us, sub, sub, sub + us, w / 2, w - us, w - us, w, w,
		w + us, w + sub, 2*w - us, 2 * w, 2 * w, 2*w + 3*us}
	out := at[:0]
	last := time.Duration(0)
	for _, d := range at {
		d = d.Truncate(us)
		if d < last {
			d = last
		}
		out = append(out, d)
		last = d
	}
	return out
}

// runEdgeTests is the edge-policy table: each store decides every edge
// policy exactly as Policy.Decide does, Peek as Policy.Peek, and Validate
// rejects what no store can decide exactly.
func runEdgeTests(t *testing.T, newStore func(t *testing.T) halt.Store) {
	t.Run("Edge/Invalid", func(t *testing.T) {
		for _, tc := range edgeInvalid {
			err := tc.p.Validate()
			var pe *halt.PolicyError
			if !errors.As(err, &pe) || pe.Field != tc.field || !strings.Contains(pe.Reason, "microsecond") {
				t.Errorf("%s: Validate = %v, want a PolicyError on %s naming the microsecond", tc.p.Name, err, tc.field)
			}
		}
	})
	for _, p := range EdgePolicies() {
		t.Run("Edge/"+p.Name, func(t *testing.T) {
			c := newCase(t, newStore(t), p)
			peeker, _ := c.store.(halt.Peeker)
			var ref halt.State
			for i, at := range edgeSchedule(&c.p) {
				now := Base.Add(at).UnixNano()
				if peeker != nil {
					want := c.p.Peek(&ref, now, 0)
					if got := c.peek(at, 0); got != want {
						t.Fatalf("step %d, peek at +%v:\n got %+v\nwant %+v", i, at, got, want)
					}
				}
				want := c.p.Decide(&ref, now, 0)
				got, err := c.store.Take(context.Background(), c.key, &c.p, Base.Add(at), 0)
				if err != nil {
					t.Fatalf("step %d, take at +%v: %v", i, at, err)
				}
				if got != want {
					t.Fatalf("step %d, take at +%v:\n got %+v\nwant %+v", i, at, got, want)
				}
			}
		})
	}
}
