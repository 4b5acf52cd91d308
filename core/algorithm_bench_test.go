package halt_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
)

// TestTTLForgetsNothing checks the promise stores build on: past
// Policy.TTL, a fresh State decides exactly as the kept one, for every
// algorithm, under random traffic that includes equal instants, idle gaps,
// cooldowns and a clock that steps back.
func TestTTLForgetsNothing(t *testing.T) {
	pols := []halt.Policy{
		{Name: "tb", Limit: 5, Window: time.Minute},
		{Name: "tb-burst", Limit: 7, Window: 13 * time.Second, Burst: 11},
		{Name: "tb-cool", Limit: 2, Window: time.Second, BlockDuration: 5 * time.Second},
		{Name: "fw", Limit: 10, Window: time.Second, Algorithm: halt.FixedWindow},
		{Name: "fw-cool", Limit: 3, Window: time.Second, Algorithm: halt.FixedWindow, BlockDuration: 3 * time.Second},
		{Name: "sw", Limit: 6, Window: 3 * time.Second, Algorithm: halt.SlidingWindow, Precision: 6},
	}
	base := time.Unix(1_800_000_000, 0).UnixNano()
	for i, p := range pols {
		rng := rand.New(rand.NewPCG(uint64(i), 5))
		interval := int64(p.Window) / p.Limit
		var st halt.State
		now := base
		for step := range 20_000 {
			switch r := rng.IntN(100); {
			case r < 10: // equal instant
			case r < 13:
				now -= rng.Int64N(2 * interval) // the clock steps back
			case r < 15:
				now += rng.Int64N(int64(2 * p.Window)) // idle
			default:
				now += rng.Int64N(2 * interval)
			}
			cost := 1 + rng.Int64N(p.Capacity())
			p.Decide(&st, now, cost)
			ttl := int64(p.TTL(&st, now))
			if ttl < int64(time.Second) {
				t.Fatalf("%s step %d: TTL %v below the margin of a second", p.Name, step, time.Duration(ttl))
			}
			// At and after TTL, the kept state
			// and a fresh one decide alike for every cost.
			for _, later := range []int64{ttl, ttl + rng.Int64N(int64(p.Window))} {
				for c := int64(1); c <= p.Capacity(); c += max(1, p.Capacity()/4) {
					kept := st
					kept.Slots = slices.Clone(st.Slots)
					var fresh halt.State
					got, want := p.Decide(&kept, now+later, c), p.Decide(&fresh, now+later, c)
					if got != want {
						t.Fatalf("%s step %d: %v after a decision with TTL %v, cost %d: kept state %+v, fresh %+v",
							p.Name, step, time.Duration(later), time.Duration(ttl), c, got, want)
					}
				}
			}
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	for _, p := range []halt.Policy{
		{Name: "token_bucket", Limit: 1 << 30, Window: time.Second},
		{Name: "fixed_window", Limit: 1 << 30, Window: time.Second, Algorithm: halt.FixedWindow},
		{Name: "sliding_window", Limit: 1 << 30, Window: time.Second, Algorithm: halt.SlidingWindow},
	} {
		b.Run(p.Name, func(b *testing.B) {
			var st halt.State
			now := time.Unix(1_800_000_000, 0).UnixNano()
			p.Decide(&st, now, 1)
			b.ReportAllocs()
			for b.Loop() {
				now += 1000
				if !p.Decide(&st, now, 1).Allowed {
					b.Fatal("refused")
				}
				_ = p.TTL(&st, now)
			}
		})
	}
}
