// Package halttest holds the conformance suites every Halt store and every
// Halt adapter runs: the behaviour is written once, here, and each
// implementation proves it by calling [RunStoreTests] or [RunAdapterTests]
// from its own tests. It imports only the standard library and core.
package halttest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
)

// Base is the instant the suites start at: aligned to every window they use,
// so fixed windows start there.
var Base = time.Unix(1_800_000_000, 0)

var uniq atomic.Int64

// unique returns a name no other run of the suite uses, so suites can share
// a store (a Redis server) between runs.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e12, uniq.Add(1))
}

// storeCase drives one store for one policy and key.
type storeCase struct {
	t     *testing.T
	store halt.Store
	p     halt.Policy
	key   []byte
}

func newCase(t *testing.T, s halt.Store, p halt.Policy) *storeCase {
	t.Helper()
	p.Name = unique(p.Name)
	if err := p.Validate(); err != nil {
		t.Fatalf("suite policy invalid: %v", err)
	}
	return &storeCase{t: t, store: s, p: p, key: []byte("halt:" + p.Name + ":{ip:203.0.113.7}")}
}

// peek calls Peek at Base+at and fails the test on error.
func (c *storeCase) peek(at time.Duration, cost int64) halt.Result {
	c.t.Helper()
	r, err := c.store.(halt.Peeker).Peek(context.Background(), c.key, &c.p, Base.Add(at), cost)
	if err != nil {
		c.t.Fatalf("Peek at +%v: %v", at, err)
	}
	return r
}

// wantPeek asserts one Peek exactly.
func (c *storeCase) wantPeek(at time.Duration, cost int64, w halt.Result) {
	c.t.Helper()
	if got := c.peek(at, cost); got != w {
		c.t.Fatalf("peek at +%v cost %d:\n got %+v\nwant %+v", at, cost, got, w)
	}
}

// refund calls Refund at Base+at and fails the test on error.
func (c *storeCase) refund(at time.Duration, cost int64) {
	c.t.Helper()
	if err := c.store.(halt.Refunder).Refund(context.Background(), c.key, &c.p, Base.Add(at), cost); err != nil {
		c.t.Fatalf("Refund at +%v: %v", at, err)
	}
}

// reset calls Reset and fails the test on error.
func (c *storeCase) reset() {
	c.t.Helper()
	if err := c.store.(halt.Resetter).Reset(context.Background(), c.key, &c.p); err != nil {
		c.t.Fatalf("Reset: %v", err)
	}
}

// take calls Take at Base+at and fails the test on error.
func (c *storeCase) take(at time.Duration, cost int64) halt.Result {
	c.t.Helper()
	r, err := c.store.Take(context.Background(), c.key, &c.p, Base.Add(at), cost)
	if err != nil {
		c.t.Fatalf("Take at +%v: %v", at, err)
	}
	return r
}

// want asserts one decision exactly.
func (c *storeCase) want(at time.Duration, cost int64, w halt.Result) {
	c.t.Helper()
	got := c.take(at, cost)
	if got != w {
		c.t.Fatalf("at +%v cost %d:\n got %+v\nwant %+v", at, cost, got, w)
	}
}

func allowed(remaining int64, reset time.Duration) halt.Result {
	return halt.Result{Allowed: true, Remaining: remaining, ResetAfter: reset, Reason: halt.ReasonAllowed}
}

func limited(remaining int64, retry, reset time.Duration) halt.Result {
	return halt.Result{Remaining: remaining, RetryAfter: retry, ResetAfter: reset, Reason: halt.ReasonLimited}
}

// RunStoreTests runs the store conformance suite. newStore returns a store
// ready for use (the suite never closes it; register cleanup with t.Cleanup).
// The store must honour the now passed to Take (a Redis store runs with its
// caller's-clock option). Instants are whole microseconds, so stores with
// microsecond clocks pass.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) halt.Store) {
	t.Helper()
	t.Run("TokenBucket/SeedExample", func(t *testing.T) {
		// The Python SDK's "Testing" example: limit 5 per minute, 6th blocked.
		c := newCase(t, newStore(t), halt.Policy{Name: "seed", Limit: 5, Window: time.Minute})
		for i := int64(0); i < 5; i++ {
			c.want(0, 1, allowed(4-i, time.Duration(i+1)*12*time.Second))
		}
		c.want(0, 1, limited(0, 12*time.Second, time.Minute))
		c.want(6*time.Second, 1, limited(0, 6*time.Second, 54*time.Second))
		c.want(12*time.Second, 1, allowed(0, time.Minute))
	})
	t.Run("TokenBucket/Refill", func(t *testing.T) {
		c := newCase(t, newStore(t), halt.Policy{Name: "refill", Limit: 10, Window: 10 * time.Second})
		for i := 0; i < 10; i++ {
			c.take(0, 1)
		}
		c.want(0, 1, limited(0, time.Second, 10*time.Second))
		// 3.5 s refill 3.5 tokens: three requests pass, the fourth waits 0.5 s.
		c.want(3500*time.Millisecond, 1, allowed(2, 7500*time.Millisecond))
		c.want(3500*time.Millisecond, 1, allowed(1, 8500*time.Millisecond))
		c.want(3500*time.Millisecond, 1, allowed(0, 9500*time.Millisecond))
		c.want(3500*time.Millisecond, 1, limited(0, 500*time.Millisecond, 9500*time.Millisecond))
		// Long idle: full again, capped at the burst.
		c.want(time.Hour, 1, allowed(9, time.Second))
	})
	t.Run("TokenBucket/Burst", func(t *testing.T) {
		// PublicAPI: 100 per minute, burst 120: 119 remain after the first.
		c := newCase(t, newStore(t), halt.Policy{Name: "burst", Limit: 100, Window: time.Minute, Burst: 120})
		c.want(0, 1, allowed(119, 600*time.Millisecond))
		for i := 0; i < 119; i++ {
			c.take(0, 1)
		}
		c.want(0, 1, limited(0, 600*time.Millisecond, 72*time.Second))
	})
	t.Run("TokenBucket/Cost", func(t *testing.T) {
		c := newCase(t, newStore(t), halt.Policy{Name: "cost", Limit: 10, Window: 10 * time.Second})
		c.want(0, 3, allowed(2, 3*time.Second))
		c.want(0, 3, allowed(1, 6*time.Second))
		c.want(0, 3, allowed(0, 9*time.Second))
		c.want(0, 3, limited(0, 2*time.Second, 9*time.Second))
		c.want(0, 1, allowed(0, 10*time.Second))
		// Zero cost means the policy's cost (1).
		c.want(time.Second, 0, allowed(0, 10*time.Second))
	})
	t.Run("CostExceedsCapacity", func(t *testing.T) {
		for _, alg := range []halt.Algorithm{halt.TokenBucket, halt.FixedWindow, halt.SlidingWindow} {
			c := newCase(t, newStore(t), halt.Policy{Name: "toobig", Limit: 10, Window: 10 * time.Second, Algorithm: alg})
			got := c.take(0, 11)
			if got.Allowed || got.Reason != halt.ReasonCostExceedsCapacity || got.RetryAfter != 0 {
				t.Fatalf("%v: cost 11 of 10: got %+v, want blocked with ReasonCostExceedsCapacity and no retry", alg, got)
			}
			// and it consumed nothing
			if r := c.take(0, 10); !r.Allowed {
				t.Fatalf("%v: a rejected request consumed capacity: %+v", alg, r)
			}
		}
	})
	t.Run("FixedWindow", func(t *testing.T) {
		c := newCase(t, newStore(t), halt.Policy{Name: "fixed", Limit: 3, Window: time.Minute, Algorithm: halt.FixedWindow})
		c.want(10*time.Second, 1, allowed(2, 50*time.Second))
		c.want(20*time.Second, 1, allowed(1, 40*time.Second))
		c.want(30*time.Second, 1, allowed(0, 30*time.Second))
		c.want(59*time.Second, 1, limited(0, time.Second, time.Second))
		// epoch-aligned: a new window at the minute
		c.want(60*time.Second, 1, allowed(2, 60*time.Second))
		c.want(61*time.Second, 2, allowed(0, 59*time.Second))
		c.want(62*time.Second, 1, limited(0, 58*time.Second, 58*time.Second))
	})
	t.Run("FixedWindow/Cost", func(t *testing.T) {
		c := newCase(t, newStore(t), halt.Policy{Name: "fixedcost", Limit: 10, Window: time.Minute, Algorithm: halt.FixedWindow})
		c.want(0, 4, allowed(1, time.Minute))
		c.want(0, 4, allowed(0, time.Minute))
		c.want(0, 4, limited(0, time.Minute, time.Minute))
		c.want(0, 2, allowed(0, time.Minute))
	})
	t.Run("SlidingWindow", func(t *testing.T) {
		c := newCase(t, newStore(t), halt.Policy{Name: "sliding", Limit: 4, Window: 10 * time.Second,
			Algorithm: halt.SlidingWindow, Precision: 10})
		c.want(0, 1, allowed(3, 10*time.Second))
		c.want(500*time.Millisecond, 1, allowed(2, 9500*time.Millisecond))
		c.want(5*time.Second, 1, allowed(1, 10*time.Second))
		c.want(5*time.Second, 1, allowed(0, 10*time.Second))
		// The two requests of sub-window 0 leave at +10 s.
		c.want(6*time.Second, 1, limited(0, 4*time.Second, 9*time.Second))
		c.want(10*time.Second, 1, allowed(1, 10*time.Second))
		c.want(10*time.Second, 1, allowed(0, 10*time.Second))
		// Now sub-windows 5 (two) and 10 (two) hold the limit; 5 leaves at +15 s.
		c.want(12*time.Second, 1, limited(0, 3*time.Second, 8*time.Second))
		c.want(15*time.Second, 2, allowed(0, 10*time.Second))
		// After a whole idle window everything has left.
		c.want(40*time.Second, 1, allowed(3, 10*time.Second))
	})
	t.Run("SlidingWindow/Cost", func(t *testing.T) {
		c := newCase(t, newStore(t), halt.Policy{Name: "slidingcost", Limit: 10, Window: 10 * time.Second,
			Algorithm: halt.SlidingWindow, Precision: 5})
		c.want(0, 6, allowed(0, 10*time.Second))
		c.want(2*time.Second, 3, allowed(0, 10*time.Second))
		// 9 of 10 used: a cost of 2 waits for the 6 of sub-window 0 to leave at +10 s.
		c.want(3*time.Second, 2, limited(0, 7*time.Second, 9*time.Second))
		c.want(10*time.Second, 2, allowed(2, 10*time.Second))
	})
	t.Run("Cooldown", func(t *testing.T) {
		c := newCase(t, newStore(t), halt.Policy{Name: "cooldown", Limit: 2, Window: time.Minute,
			BlockDuration: 5 * time.Minute})
		c.want(0, 1, allowed(1, 30*time.Second))
		c.want(0, 1, allowed(0, time.Minute))
		cool := halt.Result{RetryAfter: 5 * time.Minute, ResetAfter: 5 * time.Minute, Reason: halt.ReasonCooldown}
		c.want(0, 1, cool)
		// The bucket refilled long ago, the cooldown still holds.
		cool = halt.Result{RetryAfter: time.Minute, ResetAfter: time.Minute, Reason: halt.ReasonCooldown}
		c.want(4*time.Minute, 1, cool)
		c.want(5*time.Minute, 1, allowed(1, 30*time.Second))
	})
	t.Run("Cooldown/FixedWindow", func(t *testing.T) {
		c := newCase(t, newStore(t), halt.Policy{Name: "coolfixed", Limit: 1, Window: time.Minute,
			Algorithm: halt.FixedWindow, BlockDuration: 2 * time.Minute})
		c.want(0, 1, allowed(0, time.Minute))
		c.want(30*time.Second, 1, halt.Result{RetryAfter: 2 * time.Minute, ResetAfter: 2 * time.Minute, Reason: halt.ReasonCooldown})
		c.want(time.Minute, 1, halt.Result{RetryAfter: 90 * time.Second, ResetAfter: 90 * time.Second, Reason: halt.ReasonCooldown})
		c.want(150*time.Second, 1, allowed(0, 30*time.Second))
	})
	t.Run("KeysAreIndependent", func(t *testing.T) {
		s := newStore(t)
		a := newCase(t, s, halt.Policy{Name: "indep", Limit: 1, Window: time.Minute})
		b := &storeCase{t: t, store: s, p: a.p, key: []byte("halt:" + a.p.Name + ":{ip:198.51.100.1}")}
		a.want(0, 1, allowed(0, time.Minute))
		a.want(0, 1, limited(0, time.Minute, time.Minute))
		b.want(0, 1, allowed(0, time.Minute))
	})
	t.Run("KeyBufferReused", func(t *testing.T) {
		// The limiter reuses its key buffers: a store must copy what it keeps.
		s := newStore(t)
		c := newCase(t, s, halt.Policy{Name: "reuse", Limit: 1, Window: time.Minute})
		buf := append([]byte(nil), c.key...)
		c.key = buf
		c.want(0, 1, allowed(0, time.Minute))
		orig := string(buf)
		for i := range buf {
			buf[i] = 'x'
		}
		c.want(0, 1, allowed(0, time.Minute)) // the scribbled key is a new key
		copy(buf, orig)
		c.want(0, 1, limited(0, time.Minute, time.Minute))
	})
	t.Run("Expiry", func(t *testing.T) {
		for _, alg := range []halt.Algorithm{halt.TokenBucket, halt.FixedWindow, halt.SlidingWindow} {
			c := newCase(t, newStore(t), halt.Policy{Name: "expiry", Limit: 2, Window: time.Second, Algorithm: alg})
			c.take(0, 1)
			c.take(0, 1)
			if r := c.take(0, 1); r.Allowed {
				t.Fatalf("%v: third request allowed", alg)
			}
			if r := c.take(time.Hour, 1); !r.Allowed || r.Remaining != 1 {
				t.Fatalf("%v: an hour later: got %+v, want a fresh key", alg, r)
			}
		}
	})
	t.Run("Concurrency", func(t *testing.T) {
		for _, alg := range []halt.Algorithm{halt.TokenBucket, halt.FixedWindow, halt.SlidingWindow} {
			t.Run(alg.String(), func(t *testing.T) {
				c := newCase(t, newStore(t), halt.Policy{Name: "conc", Limit: 50, Window: time.Hour, Algorithm: alg})
				const workers, each = 64, 4
				var admitted atomic.Int64
				var wg sync.WaitGroup
				for w := 0; w < workers; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < each; i++ {
							r, err := c.store.Take(context.Background(), c.key, &c.p, Base, 1)
							if err != nil {
								t.Error(err)
								return
							}
							if r.Allowed {
								admitted.Add(1)
							}
						}
					}()
				}
				wg.Wait()
				if got := admitted.Load(); got != 50 {
					t.Fatalf("%d goroutines x %d requests admitted %d, want exactly 50", workers, each, got)
				}
			})
		}
	})
	t.Run("Peek", func(t *testing.T) {
		if _, ok := newStore(t).(halt.Peeker); !ok {
			t.Skip("the store does not implement halt.Peeker")
		}
		c := newCase(t, newStore(t), halt.Policy{Name: "peek", Limit: 5, Window: time.Minute,
			BlockDuration: time.Hour})
		// A key never seen has its whole capacity, and is full.
		c.wantPeek(0, 1, allowed(5, 0))
		c.wantPeek(0, 5, allowed(1, 0))
		for i := int64(0); i < 5; i++ {
			c.want(0, 1, allowed(4-i, time.Duration(i+1)*12*time.Second))
		}
		// An empty bucket: none would pass, and peeking starts no cooldown.
		c.wantPeek(0, 1, limited(0, 12*time.Second, time.Minute))
		c.wantPeek(6*time.Second, 1, limited(0, 6*time.Second, 54*time.Second))
		c.wantPeek(6*time.Second, 0, limited(0, 6*time.Second, 54*time.Second))
		c.wantPeek(30*time.Second, 1, allowed(2, 30*time.Second)) // 2.5 tokens back
		c.wantPeek(30*time.Second, 2, allowed(1, 30*time.Second))
		c.want(12*time.Second, 1, allowed(0, time.Minute))
		// A cooldown that is running is reported.
		c.want(12*time.Second, 1, halt.Result{RetryAfter: time.Hour, ResetAfter: time.Hour, Reason: halt.ReasonCooldown})
		c.wantPeek(13*time.Second, 1, halt.Result{RetryAfter: time.Hour - time.Second,
			ResetAfter: time.Hour - time.Second, Reason: halt.ReasonCooldown})

		f := newCase(t, newStore(t), halt.Policy{Name: "peekfixed", Limit: 3, Window: time.Minute, Algorithm: halt.FixedWindow})
		f.wantPeek(10*time.Second, 1, allowed(3, 0))
		f.want(10*time.Second, 2, allowed(0, 50*time.Second))
		f.wantPeek(20*time.Second, 1, allowed(1, 40*time.Second))
		f.wantPeek(20*time.Second, 2, limited(0, 40*time.Second, 40*time.Second))
		f.want(20*time.Second, 1, allowed(0, 40*time.Second))
		f.wantPeek(30*time.Second, 1, limited(0, 30*time.Second, 30*time.Second))

		w := newCase(t, newStore(t), halt.Policy{Name: "peekslide", Limit: 4, Window: 10 * time.Second,
			Algorithm: halt.SlidingWindow, Precision: 10})
		w.wantPeek(0, 1, allowed(4, 0))
		w.want(0, 2, allowed(1, 10*time.Second))
		w.wantPeek(3*time.Second, 1, allowed(2, 7*time.Second))
		w.want(5*time.Second, 2, allowed(0, 10*time.Second))
		w.wantPeek(6*time.Second, 1, limited(0, 4*time.Second, 9*time.Second))
		w.wantPeek(10*time.Second, 2, allowed(1, 5*time.Second)) // sub-window 0 has left
		w.want(10*time.Second, 2, allowed(0, 10*time.Second))    // and the peek consumed nothing
	})
	t.Run("Reset", func(t *testing.T) {
		if _, ok := newStore(t).(halt.Resetter); !ok {
			t.Skip("the store does not implement halt.Resetter")
		}
		for _, alg := range []halt.Algorithm{halt.TokenBucket, halt.FixedWindow, halt.SlidingWindow} {
			c := newCase(t, newStore(t), halt.Policy{Name: "reset", Limit: 2, Window: time.Minute, Algorithm: alg,
				BlockDuration: time.Hour})
			c.reset() // a key never seen: nothing to do, no error
			c.take(0, 1)
			c.take(0, 1)
			if r := c.take(0, 1); r.Reason != halt.ReasonCooldown {
				t.Fatalf("%v: third request: %+v, want a cooldown", alg, r)
			}
			c.reset()
			if r := c.take(time.Second, 1); !r.Allowed || r.Remaining != 1 {
				t.Fatalf("%v: after Reset: %+v, want a fresh key (1 remaining)", alg, r)
			}
		}
	})
	t.Run("Refund", func(t *testing.T) {
		if _, ok := newStore(t).(halt.Refunder); !ok {
			t.Skip("the store does not implement halt.Refunder")
		}
		c := newCase(t, newStore(t), halt.Policy{Name: "refund", Limit: 5, Window: time.Minute})
		c.refund(0, 3) // a full bucket stays full
		c.want(0, 1, allowed(4, 12*time.Second))
		c.want(0, 2, allowed(1, 36*time.Second))
		c.refund(0, 1)
		c.want(0, 1, allowed(2, 36*time.Second))
		c.refund(0, 0) // the policy's cost
		c.want(0, 1, allowed(2, 36*time.Second))
		c.refund(0, 100) // never beyond capacity
		c.want(0, 1, allowed(4, 12*time.Second))

		f := newCase(t, newStore(t), halt.Policy{Name: "refundfixed", Limit: 3, Window: time.Minute, Algorithm: halt.FixedWindow})
		f.want(10*time.Second, 3, allowed(0, 50*time.Second))
		f.refund(20*time.Second, 2)
		f.want(20*time.Second, 1, allowed(1, 40*time.Second))
		f.refund(30*time.Second, 10) // at most what the window holds
		f.want(30*time.Second, 3, allowed(0, 30*time.Second))
		f.refund(70*time.Second, 3) // the window has passed: nothing to give back
		f.want(70*time.Second, 3, allowed(0, 50*time.Second))

		w := newCase(t, newStore(t), halt.Policy{Name: "refundslide", Limit: 4, Window: 10 * time.Second,
			Algorithm: halt.SlidingWindow, Precision: 10})
		w.want(0, 2, allowed(1, 10*time.Second))
		w.want(5*time.Second, 2, allowed(0, 10*time.Second))
		w.refund(5*time.Second, 1)
		w.want(5*time.Second, 1, allowed(0, 10*time.Second))
		// 3 back at +6 s: the 2 of sub-window 5, then 1 of sub-window 0.
		w.refund(6*time.Second, 3)
		w.want(6*time.Second, 1, allowed(2, 10*time.Second))

		// A cooldown stays in place.
		k := newCase(t, newStore(t), halt.Policy{Name: "refundcool", Limit: 2, Window: time.Minute,
			BlockDuration: 5 * time.Minute})
		k.take(0, 1)
		k.take(0, 1)
		k.take(0, 1)
		k.refund(0, 2)
		k.want(time.Minute, 1, halt.Result{RetryAfter: 4 * time.Minute, ResetAfter: 4 * time.Minute, Reason: halt.ReasonCooldown})
	})
	t.Run("Refund/Concurrency", func(t *testing.T) {
		if _, ok := newStore(t).(halt.Refunder); !ok {
			t.Skip("the store does not implement halt.Refunder")
		}
		// 64 goroutines take and give back at once: every take is refunded,
		// so afterwards the key is full again, exactly.
		for _, alg := range []halt.Algorithm{halt.TokenBucket, halt.FixedWindow, halt.SlidingWindow} {
			c := newCase(t, newStore(t), halt.Policy{Name: "refundconc", Limit: 40, Window: time.Hour, Algorithm: alg})
			var wg sync.WaitGroup
			for w := 0; w < 64; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 4; i++ {
						r, err := c.store.Take(context.Background(), c.key, &c.p, Base, 1)
						if err != nil {
							t.Error(err)
							return
						}
						if r.Allowed {
							if err := c.store.(halt.Refunder).Refund(context.Background(), c.key, &c.p, Base, 1); err != nil {
								t.Error(err)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			if r := c.take(0, 40); !r.Allowed || r.Remaining != 0 {
				t.Fatalf("%v: after balanced takes and refunds: %+v, want the whole limit available", alg, r)
			}
		}
	})
	t.Run("TakeAll", func(t *testing.T) {
		if _, ok := newStore(t).(halt.MultiTaker); !ok {
			t.Skip("the store does not implement halt.MultiTaker")
		}
		store := newStore(t).(halt.MultiTaker)
		sec := halt.Policy{Name: unique("second"), Limit: 2, Window: time.Second}
		hour := halt.Policy{Name: unique("hour"), Limit: 20, Window: time.Hour}
		fixed := halt.Policy{Name: unique("fixed"), Limit: 5, Window: time.Minute, Algorithm: halt.FixedWindow}
		slide := halt.Policy{Name: unique("slide"), Limit: 4, Window: 10 * time.Second, Algorithm: halt.SlidingWindow}
		ps := []*halt.Policy{&sec, &hour, &fixed, &slide}
		keys := make([][]byte, len(ps))
		for i, p := range ps {
			keys[i] = []byte("halt:" + p.Name + ":{ip:203.0.113.7}")
		}
		all := func(at time.Duration, want ...halt.Result) {
			t.Helper()
			out := make([]halt.Result, len(ps))
			if err := store.TakeAll(context.Background(), keys, ps, Base.Add(at), 1, out); err != nil {
				t.Fatalf("TakeAll at +%v: %v", at, err)
			}
			for i := range want {
				if want[i] != (halt.Result{}) && out[i] != want[i] { // a zero Result is not checked
					t.Fatalf("TakeAll at +%v, policy %d:\n got %+v\nwant %+v", at, i, out[i], want[i])
				}
			}
		}
		all(0, allowed(1, 500*time.Millisecond), allowed(19, 3*time.Minute), allowed(4, time.Minute), allowed(3, 10*time.Second))
		all(0, allowed(0, time.Second), allowed(18, 6*time.Minute), allowed(3, time.Minute), allowed(2, 10*time.Second))
		// The per-second policy rejects: nothing is charged, and the others
		// report their standing as it is.
		all(0, limited(0, 500*time.Millisecond, time.Second), allowed(18, 6*time.Minute), allowed(3, time.Minute),
			allowed(2, 10*time.Second))
		all(100*time.Millisecond, limited(0, 400*time.Millisecond, 900*time.Millisecond))
		// The sliding window is the tightest now: after 2 more, it rejects.
		all(time.Second, allowed(1, 500*time.Millisecond))
		all(1500*time.Millisecond, allowed(1, 500*time.Millisecond), halt.Result{}, allowed(1, 58500*time.Millisecond),
			allowed(0, 9500*time.Millisecond))
		out := make([]halt.Result, len(ps))
		if err := store.TakeAll(context.Background(), keys, ps, Base.Add(2*time.Second), 1, out); err != nil {
			t.Fatal(err)
		}
		if out[3].Allowed || !out[0].Allowed || out[2] != allowed(1, 58*time.Second) {
			t.Fatalf("sliding window full: %+v", out)
		}
		// nothing was charged by that rejection: the fixed window still has 1
		if r, err := store.(halt.Store).Take(context.Background(), keys[2], &fixed, Base.Add(2*time.Second), 1); err != nil || r != allowed(0, 58*time.Second) {
			t.Fatalf("fixed window after a rejected TakeAll: %+v %v", r, err)
		}
	})
	t.Run("TakeAll/TwoKeys", func(t *testing.T) {
		// Two keys is the commonest several-policy check, which a store may
		// decide on a path of its own: every pair of algorithms, cooldowns
		// included, answers exactly as MapStore's TakeAll does, call by
		// call, and leaves the same standing behind.
		if _, ok := newStore(t).(halt.MultiTaker); !ok {
			t.Skip("the store does not implement halt.MultiTaker")
		}
		base := []halt.Policy{
			{Limit: 3, Window: time.Second},
			{Limit: 5, Window: time.Minute, Algorithm: halt.FixedWindow},
			{Limit: 4, Window: 10 * time.Second, Algorithm: halt.SlidingWindow},
			{Limit: 2, Window: time.Second, BlockDuration: 5 * time.Second},
		}
		steps := []time.Duration{0, 0, 0, 0, 100 * time.Millisecond, 400 * time.Millisecond, time.Second,
			time.Second, 1500 * time.Millisecond, 2 * time.Second, 6 * time.Second, 6 * time.Second,
			6 * time.Second, 7 * time.Second, 65 * time.Second, 65 * time.Second}
		for i := range base {
			for j := range base {
				if i == j {
					continue
				}
				store, ref := newStore(t).(halt.MultiTaker), NewMapStore()
				a, b := base[i], base[j]
				a.Name, b.Name = unique("pair-a"), unique("pair-b")
				ps := []*halt.Policy{&a, &b}
				keys := [][]byte{[]byte("halt:" + a.Name + ":{ip:203.0.113.9}"), []byte("halt:" + b.Name + ":{ip:203.0.113.9}")}
				got, want := make([]halt.Result, 2), make([]halt.Result, 2)
				for n, at := range steps {
					if err := store.TakeAll(context.Background(), keys, ps, Base.Add(at), 1, got); err != nil {
						t.Fatalf("pair %d,%d step %d: %v", i, j, n, err)
					}
					if err := ref.TakeAll(context.Background(), keys, ps, Base.Add(at), 1, want); err != nil {
						t.Fatal(err)
					}
					if got[0] != want[0] || got[1] != want[1] {
						t.Fatalf("pair %d,%d step %d at +%v:\n got %+v\nwant %+v", i, j, n, at, got, want)
					}
				}
				pk, ok := store.(halt.Peeker)
				if !ok {
					continue
				}
				for k := range ps {
					r, err := pk.Peek(context.Background(), keys[k], ps[k], Base.Add(66*time.Second), 1)
					w, _ := ref.Peek(context.Background(), keys[k], ps[k], Base.Add(66*time.Second), 1)
					if err != nil || r != w {
						t.Fatalf("pair %d,%d, policy %d afterwards: %+v %v, want %+v", i, j, k, r, err, w)
					}
				}
			}
		}
	})
	t.Run("TakeAll/TwoKeys/Concurrency", func(t *testing.T) {
		if _, ok := newStore(t).(halt.MultiTaker); !ok {
			t.Skip("the store does not implement halt.MultiTaker")
		}
		// 64 goroutines x 4 on two policies: exactly the tighter's 10 are
		// admitted, and the looser is charged for those 10 only.
		mt := newStore(t).(halt.MultiTaker)
		ps, keys := MultiPolicies(unique("pair"))
		ps, keys = ps[:2], keys[:2]
		if got := runTakeAll(t, mt, ps, keys, 64, 4); got != 10 {
			t.Fatalf("64 goroutines x 4 TakeAll of two policies admitted %d, want exactly 10", got)
		}
		if pk, ok := mt.(halt.Peeker); ok {
			for i, want := range []int64{0, 20} {
				if r, err := pk.Peek(context.Background(), keys[i], ps[i], Base, 1); err != nil || r.Remaining != want {
					t.Fatalf("%s after the run: %+v %v, want %d remaining", ps[i].Name, r, err, want)
				}
			}
		}
	})
	t.Run("TakeAll/Concurrency", func(t *testing.T) {
		if _, ok := newStore(t).(halt.MultiTaker); !ok {
			t.Skip("the store does not implement halt.MultiTaker")
		}
		// 64 goroutines x 4: exactly the tightest allowance is admitted,
		// and rejections consume nothing from the other policies.
		store := newStore(t)
		name := unique("multi")
		if got := RunMultiTakeAll(t, store, name, 64, 4); got != 10 {
			t.Fatalf("64 goroutines x 4 TakeAll admitted %d, want exactly 10 (the tightest policy)", got)
		}
		ps, keys := MultiPolicies(name)
		pk, ok := store.(halt.Peeker)
		if !ok {
			return
		}
		for i, want := range []int64{0, 20, 10} {
			r, err := pk.Peek(context.Background(), keys[i], ps[i], Base, 1)
			if err != nil || r.Remaining != want {
				t.Fatalf("%s after the run: %+v %v, want %d remaining", ps[i].Name, r, err, want)
			}
		}
	})
	if _, ok := newStore(t).(halt.PenaltyStore); ok {
		t.Run("Penalty", func(t *testing.T) { RunPenaltyTests(t, newStore) })
	}
	if _, ok := newStore(t).(halt.PenaltyTaker); ok {
		t.Run("PenaltyTake", func(t *testing.T) { RunPenaltyTakeTests(t, newStore) })
	}
	if _, ok := newStore(t).(halt.QuotaStore); ok {
		t.Run("Quota", func(t *testing.T) { RunQuotaTests(t, newStore) })
	}
	if _, ok := newStore(t).(halt.Leaser); ok {
		t.Run("Flow", func(t *testing.T) { RunFlowTests(t, newStore) })
	}
	runEdgeTests(t, newStore)
	t.Run("ContextCanceled", func(t *testing.T) {
		// A canceled context must not panic; the store may decide or fail.
		c := newCase(t, newStore(t), halt.Policy{Name: "ctx", Limit: 1, Window: time.Minute})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, _ = c.store.Take(ctx, c.key, &c.p, Base, 1)
	})
}

// MultiPolicies returns the policies and keys of the multi-policy
// concurrency run named name: a token bucket of 10 per hour (the tightest),
// one of 30 per hour and a fixed window of 20 per hour, one client. The
// names depend only on name, so several processes share them.
func MultiPolicies(name string) ([]*halt.Policy, [][]byte) {
	ps := []*halt.Policy{
		{Name: name + "-tight", Limit: 10, Window: time.Hour},
		{Name: name + "-loose", Limit: 30, Window: time.Hour},
		{Name: name + "-fixed", Limit: 20, Window: time.Hour, Algorithm: halt.FixedWindow},
	}
	keys := make([][]byte, len(ps))
	for i, p := range ps {
		keys[i] = []byte("halt:" + p.Name + ":{ip:203.0.113.77}")
	}
	return ps, keys
}

// RunMultiTakeAll runs workers goroutines, each calling TakeAll each times
// at Base on [MultiPolicies](name), and returns how many were admitted:
// exactly 10 (the tightest allowance) over all callers. Tests that run it
// in several processes add the counts up (pass a name unique to the test
// run and the same in every process).
func RunMultiTakeAll(t testing.TB, store halt.Store, name string, workers, each int) int64 {
	t.Helper()
	ps, keys := MultiPolicies(name)
	return runTakeAll(t, store.(halt.MultiTaker), ps, keys, workers, each)
}

// runTakeAll runs workers goroutines, each calling TakeAll each times at
// Base on ps and keys, and returns how many calls every policy admitted.
func runTakeAll(t testing.TB, mt halt.MultiTaker, ps []*halt.Policy, keys [][]byte, workers, each int) int64 {
	t.Helper()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]halt.Result, len(ps))
			for range each {
				if err := mt.TakeAll(context.Background(), keys, ps, Base, 1, out); err != nil {
					t.Error(err)
					return
				}
				all := true
				for i := range ps {
					all = all && out[i].Allowed
				}
				if all {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return admitted.Load()
}
