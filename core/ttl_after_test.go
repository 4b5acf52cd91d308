package halt

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestTTLAfter: right after any decision, TTLAfter equals TTL, for every
// algorithm, with cooldowns, reservations, costs above capacity and a
// clock that goes back.
func TestTTLAfter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range []Policy{
		{Name: "tb", Limit: 10, Window: time.Second},
		{Name: "tb-burst", Limit: 3, Window: 250 * time.Millisecond, Burst: 7},
		{Name: "tb-cool", Limit: 5, Window: time.Second, BlockDuration: 3 * time.Second},
		{Name: "tb-wait", Limit: 5, Window: time.Second, MaxWait: 400 * time.Millisecond},
		{Name: "tb-cool-wait", Limit: 5, Window: time.Second, MaxWait: 100 * time.Millisecond, BlockDuration: 2 * time.Second},
		{Name: "tb-fast", Limit: 100_000_000, Window: time.Second, Burst: 1 << 40},
		{Name: "fw", Limit: 5, Window: time.Second, Algorithm: FixedWindow, BlockDuration: time.Second},
		{Name: "sw", Limit: 5, Window: time.Second, Algorithm: SlidingWindow},
	} {
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		var s State
		now := int64(1_700_000_000) * 1e9
		for i := range 20_000 {
			switch rng.IntN(10) {
			case 0:
				now -= rng.Int64N(int64(50 * time.Millisecond)) // the clock goes back
			default:
				now += rng.Int64N(int64(120 * time.Millisecond))
			}
			cost := rng.Int64N(p.Capacity()+2) - 1 // 0 (the policy's cost) up to capacity+1
			r := p.Decide(&s, now, cost)
			if got, want := p.TTLAfter(&s, now, &r), p.TTL(&s, now); got != want {
				t.Fatalf("%s, decision %d (cost %d, %+v): TTLAfter = %v, TTL = %v", p.Name, i, cost, r, got, want)
			}
		}
	}
}
