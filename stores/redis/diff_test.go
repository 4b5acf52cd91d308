package haltredis_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// randomPolicy draws a valid policy that exercises every branch: bursts,
// costs, cooldowns, odd windows and rates whose doubles do not round
// nicely.
func randomPolicy(r *rand.Rand, i int) halt.Policy {
	windows := []time.Duration{time.Second, 1500 * time.Millisecond, 7 * time.Second, 10 * time.Second,
		time.Minute, 90 * time.Second, time.Hour, 3 * time.Hour, 24 * time.Hour}
	p := halt.Policy{
		Name:      fmt.Sprintf("diff-%d-%d", time.Now().UnixNano(), i),
		Limit:     1 + r.Int64N(30),
		Window:    windows[r.IntN(len(windows))],
		Algorithm: halt.Algorithm(r.IntN(3)),
	}
	switch p.Algorithm {
	case halt.TokenBucket:
		if r.IntN(2) == 0 {
			p.Burst = p.Limit + r.Int64N(20)
		}
	case halt.SlidingWindow:
		for _, n := range []int{1, 2, 3, 5, 10, 20, 60} {
			if p.Window%time.Duration(n) == 0 && r.IntN(3) == 0 {
				p.Precision = n
			}
		}
	}
	if r.IntN(3) == 0 {
		p.Cost = 1 + r.Int64N(p.Capacity())
	}
	if r.IntN(4) == 0 {
		p.BlockDuration = time.Duration(1+r.Int64N(120)) * 250 * time.Millisecond
	}
	return p
}

// TestScriptMatchesCore drives the Lua scripts and core's Policy.Decide,
// Peek and Refund with the same random policies, operations, instants
// (whole microseconds, sometimes going back) and costs, and requires
// identical results, field for field.
func TestScriptMatchesCore(t *testing.T) {
	c := standalone(t)
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cached), func(t *testing.T) {
			size := 0
			if cached {
				size = 1000
			}
			s := newStore(t, c, haltredis.WithCallerClock(), haltredis.WithTimeout(suiteTimeout),
				haltredis.WithOverLimitCache(size), haltredis.WithPrefix(runPrefix+fmt.Sprintf("diff%v:", cached)))
			r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
			seed := r.Uint64()
			r = rand.New(rand.NewPCG(seed, 1))
			const policies, steps = 60, 120
			for i := range policies {
				p := randomPolicy(r, i)
				if err := p.Validate(); err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				key := []byte(fmt.Sprintf("halt:%s:{k}", p.Name))
				var st halt.State
				now := halttest.Base.UnixNano() + r.Int64N(int64(p.Window)/1000)*1000
				for step := range steps {
					switch x := r.IntN(10); {
					case x < 4: // same instant
					case x < 8:
						now += r.Int64N(int64(p.Window)/int64(p.Capacity())/1000+1) * 1000
					case x < 9:
						now += r.Int64N(2*int64(p.Window)/1000+1) * 1000
					default: // a clock that went back
						now -= r.Int64N(int64(p.Window)/4/1000+1) * 1000
					}
					cost := r.Int64N(p.Capacity() + 2)
					at := time.Unix(0, now)
					switch x := r.IntN(10); {
					case x < 7:
						want := p.Decide(&st, now, cost)
						got, err := s.Take(context.Background(), key, &p, at, cost)
						if err != nil {
							t.Fatal(err)
						}
						if got != want {
							t.Fatalf("seed %d, policy %+v, step %d: take at %d cost %d:\n got %+v\nwant %+v",
								seed, p, step, now, cost, got, want)
						}
					case x < 9:
						want := p.Peek(&st, now, cost)
						got, err := s.Peek(context.Background(), key, &p, at, cost)
						if err != nil {
							t.Fatal(err)
						}
						if got != want {
							t.Fatalf("seed %d, policy %+v, step %d: peek at %d cost %d:\n got %+v\nwant %+v",
								seed, p, step, now, cost, got, want)
						}
					default:
						p.Refund(&st, now, cost)
						if err := s.Refund(context.Background(), key, &p, at, cost); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
		})
	}
}
