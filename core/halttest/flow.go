package halttest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
)

// RunFlowTests is the store suite's part for flow control: reservations
// (Policy.MaxWait), Charge (settling up) and in-flight leases. RunStoreTests
// runs it for stores that implement halt.Leaser and halt.Charger.
func RunFlowTests(t *testing.T, newStore func(t *testing.T) halt.Store) {
	t.Helper()
	t.Run("Reserve", func(t *testing.T) {
		// 4 per second, burst 1, waiting at most 1 s: the first passes at
		// once, the next four reserve tokens due 250 ms apart, the sixth
		// would wait 1.25 s and is rejected, told to come back in 250 ms.
		c := newCase(t, newStore(t), halt.Policy{Name: "smooth", Limit: 4, Window: time.Second, Burst: 1, MaxWait: time.Second})
		c.want(0, 1, allowed(0, 250*time.Millisecond))
		for k := 1; k <= 4; k++ {
			w := allowed(0, time.Duration(k+1)*250*time.Millisecond)
			w.Wait = time.Duration(k) * 250 * time.Millisecond
			c.want(0, 1, w)
		}
		c.want(0, 1, limited(0, 250*time.Millisecond, 1250*time.Millisecond))
		// The standing is what passes now, without waiting.
		c.wantPeek(0, 1, limited(0, 1250*time.Millisecond, 1250*time.Millisecond))
		// A waiter that gave up gives its token back: the next one waits 1 s again.
		c.refund(0, 1)
		w := allowed(0, 1250*time.Millisecond)
		w.Wait = time.Second
		c.want(0, 1, w)
		// Half a second later two tokens have come due.
		w = allowed(0, 1000*time.Millisecond)
		w.Wait = 750 * time.Millisecond
		c.want(500*time.Millisecond, 1, w)
	})
	t.Run("Charge", func(t *testing.T) {
		ch := newStore(t).(halt.Charger)
		// Token bucket, 10 per 10 s: 2 taken, 5 charged, 10 more charged:
		// 7 tokens of debt, so the next request waits 8 s.
		c := newCase(t, ch.(halt.Store), halt.Policy{Name: "charge", Limit: 10, Window: 10 * time.Second})
		c.want(0, 2, allowed(4, 2*time.Second))
		charge := func(cc *storeCase, at time.Duration, cost int64) {
			t.Helper()
			if err := cc.store.(halt.Charger).Charge(context.Background(), cc.key, &cc.p, Base.Add(at), cost); err != nil {
				t.Fatalf("Charge: %v", err)
			}
		}
		charge(c, 0, 5)
		c.want(0, 1, allowed(2, 8*time.Second))
		charge(c, 0, 10)
		c.want(0, 1, limited(0, 9*time.Second, 18*time.Second))
		c.want(9*time.Second, 1, allowed(0, 10*time.Second))
		// A key never seen starts full and goes into debt.
		c2 := newCase(t, ch.(halt.Store), halt.Policy{Name: "charge-new", Limit: 10, Window: 10 * time.Second})
		charge(c2, 0, 12)
		c2.want(0, 1, limited(0, 3*time.Second, 12*time.Second))
		// Fixed window, 5 per minute: a charge of 10 fills the window past
		// its limit until it ends.
		fw := newCase(t, ch.(halt.Store), halt.Policy{Name: "charge-fw", Limit: 5, Window: time.Minute, Algorithm: halt.FixedWindow})
		fw.want(0, 1, allowed(4, time.Minute))
		charge(fw, time.Second, 10)
		fw.want(2*time.Second, 1, limited(-6, 58*time.Second, 58*time.Second))
		fw.want(time.Minute, 1, allowed(4, time.Minute))
		// Sliding window, 4 per 10 s in 10 sub-windows.
		sw := newCase(t, ch.(halt.Store), halt.Policy{Name: "charge-sw", Limit: 4, Window: 10 * time.Second, Algorithm: halt.SlidingWindow})
		charge(sw, 0, 3)
		sw.want(time.Second, 1, allowed(0, 10*time.Second))
		sw.want(2*time.Second, 1, limited(0, 8*time.Second, 9*time.Second))
	})
	t.Run("Leases", func(t *testing.T) {
		lr := newStore(t).(halt.Leaser)
		c := newCase(t, lr.(halt.Store), halt.Policy{Name: "inflight", Limit: 2, Window: 10 * time.Second, Algorithm: halt.InFlight})
		acquire := func(at time.Duration, id uint64) halt.Result {
			t.Helper()
			r, err := lr.Acquire(context.Background(), c.key, &c.p, Base.Add(at), id)
			if err != nil {
				t.Fatalf("Acquire: %v", err)
			}
			return r
		}
		release := func(id uint64) {
			t.Helper()
			if err := lr.Release(context.Background(), c.key, &c.p, id); err != nil {
				t.Fatalf("Release: %v", err)
			}
		}
		want := func(got, w halt.Result) {
			t.Helper()
			if got != w {
				t.Fatalf("got %+v\nwant %+v", got, w)
			}
		}
		full := halt.Result{Reason: halt.ReasonLimited, RetryAfter: time.Second, ResetAfter: time.Second}
		want(acquire(0, 1), allowed(1, 0))
		want(acquire(0, 2), allowed(0, 0))
		want(acquire(0, 3), full)
		release(1)
		release(1) // twice: no error, nothing more freed
		want(acquire(time.Second, 3), allowed(0, 0))
		want(acquire(time.Second, 4), full)
		// Lease 2 (taken at 0) expires at 10 s: half a second before, the
		// rejection says so.
		soon := halt.Result{Reason: halt.ReasonLimited, RetryAfter: 500 * time.Millisecond, ResetAfter: 500 * time.Millisecond}
		want(acquire(9500*time.Millisecond, 4), soon)
		// A crashed instance never releases 2 and 3: they expire by themselves.
		want(acquire(10*time.Second, 5), allowed(0, 0))
		want(acquire(11*time.Second, 6), allowed(0, 0))
		want(acquire(11*time.Second, 7), full)
	})
	t.Run("Leases/Concurrency", func(t *testing.T) {
		// 64 goroutines at once against a limit of 5: exactly 5 leases.
		lr := newStore(t).(halt.Leaser)
		p := halt.Policy{Name: unique("inflight-conc"), Limit: 5, Window: time.Minute, Algorithm: halt.InFlight}
		key := []byte("halt:" + p.Name + ":{ip:203.0.113.9}")
		var got atomic.Int64
		var wg sync.WaitGroup
		for i := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := lr.Acquire(context.Background(), key, &p, Base, uint64(i+1))
				if err != nil {
					t.Error(err)
				}
				if r.Allowed {
					got.Add(1)
				}
			}()
		}
		wg.Wait()
		if got.Load() != 5 {
			t.Fatalf("64 concurrent acquisitions of 5 slots admitted %d", got.Load())
		}
	})
	t.Run("Reserve/Concurrency", func(t *testing.T) {
		// 64 goroutines at once, 10 per second, burst 2, waiting at most
		// 500 ms: 2 at once and 5 reservations, whatever the interleaving.
		s := newStore(t)
		p := halt.Policy{Name: unique("reserve-conc"), Limit: 10, Window: time.Second, Burst: 2, MaxWait: 500 * time.Millisecond}
		key := []byte("halt:" + p.Name + ":{ip:203.0.113.9}")
		var now, waited atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := s.Take(context.Background(), key, &p, Base, 1)
				if err != nil {
					t.Error(err)
				}
				switch {
				case r.Allowed && r.Wait == 0:
					now.Add(1)
				case r.Allowed:
					waited.Add(1)
				}
			}()
		}
		wg.Wait()
		if now.Load() != 2 || waited.Load() != 5 {
			t.Fatalf("admitted %d at once and %d after a wait, want 2 and 5", now.Load(), waited.Load())
		}
	})
}
