package halttest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
)

// quotaCase drives one QuotaStore for one quota and key.
type quotaCase struct {
	t   *testing.T
	qs  halt.QuotaStore
	q   halt.Quota
	key []byte
}

func newQuotaCase(t *testing.T, s halt.Store, q halt.Quota) *quotaCase {
	t.Helper()
	q.Name = unique(q.Name)
	if err := q.Validate(); err != nil {
		t.Fatalf("suite quota invalid: %v", err)
	}
	return &quotaCase{t: t, qs: s.(halt.QuotaStore), q: q, key: halt.QuotaKey(q.Name, "user:42")}
}

// op runs one operation at app instant app (the bounds' base) with the
// store's clock at now.
func (c *quotaCase) op(kind halt.QuotaOpKind, amount int64, app, now time.Time) halt.QuotaResult {
	c.t.Helper()
	op := halt.QuotaOp{Kind: kind, Limit: c.q.Limit, Amount: amount, Now: now, Bounds: c.q.QuotaBounds(app)}
	r, err := c.qs.Quota(context.Background(), c.key, &op)
	if err != nil {
		c.t.Fatalf("Quota(%d, %d) at %v: %v", kind, amount, now, err)
	}
	return r
}

// want runs one operation at now and asserts its answer.
func (c *quotaCase) want(kind halt.QuotaOpKind, amount int64, now time.Time, allowed bool, used, extra int64) {
	c.t.Helper()
	r := c.op(kind, amount, now, now)
	s, e := c.q.PeriodAt(now)
	w := halt.QuotaResult{Allowed: allowed, Used: used, Extra: extra, Start: s.Unix(), End: e.Unix(), Now: now.UnixMicro()}
	if r != w {
		c.t.Fatalf("op %d amount %d at %v:\n got %+v\nwant %+v", kind, amount, now.UTC(), r, w)
	}
}

// QuotaBase is the instant the quota suite starts at: 2027-01-31 12:00
// UTC, the last day of a month.
var QuotaBase = time.Date(2027, 1, 31, 12, 0, 0, 0, time.UTC)

// RunQuotaTests is the conformance suite of [halt.QuotaStore]; it runs as
// part of [RunStoreTests] for stores that implement it. The store must
// honour the op's Now.
func RunQuotaTests(t *testing.T, newStore func(t *testing.T) halt.Store) {
	t.Helper()
	at := QuotaBase
	t.Run("ConsumeExactlyTheLimit", func(t *testing.T) {
		c := newQuotaCase(t, newStore(t), halt.Quota{Name: "monthly", Limit: 5, Period: halt.Monthly})
		c.want(halt.QuotaPeek, 5, at, true, 0, 0)
		c.want(halt.QuotaPeek, 6, at, false, 0, 0)
		c.want(halt.QuotaConsume, 3, at, true, 3, 0)
		c.want(halt.QuotaConsume, 3, at, false, 3, 0) // does not fit: nothing taken
		c.want(halt.QuotaConsume, 2, at, true, 5, 0)
		c.want(halt.QuotaConsume, 1, at, false, 5, 0)
		c.want(halt.QuotaPeek, 1, at, false, 5, 0)
		// The last second of January is still January; February 1 starts afresh.
		jan := time.Date(2027, 1, 31, 23, 59, 59, 999_999_000, time.UTC)
		c.want(halt.QuotaConsume, 1, jan, false, 5, 0)
		feb := time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)
		c.want(halt.QuotaPeek, 1, feb, true, 0, 0)
		c.want(halt.QuotaConsume, 5, feb, true, 5, 0)
	})
	t.Run("GrantRefundReset", func(t *testing.T) {
		c := newQuotaCase(t, newStore(t), halt.Quota{Name: "daily", Limit: 2, Period: halt.Daily})
		c.want(halt.QuotaConsume, 2, at, true, 2, 0)
		c.want(halt.QuotaConsume, 1, at, false, 2, 0)
		c.want(halt.QuotaGrant, 3, at, true, 2, 3)
		c.want(halt.QuotaConsume, 3, at, true, 5, 3)
		c.want(halt.QuotaConsume, 1, at, false, 5, 3)
		c.want(halt.QuotaRefund, 1, at, true, 4, 3)
		c.want(halt.QuotaRefund, 10, at, true, 0, 3) // never below zero
		// The grant ends with the day.
		next := at.Add(24 * time.Hour)
		c.want(halt.QuotaPeek, 3, next, false, 0, 0)
		c.want(halt.QuotaConsume, 2, next, true, 2, 0)
		c.want(halt.QuotaReset, 0, next, true, 0, 0)
		c.want(halt.QuotaPeek, 2, next, true, 0, 0)
		c.want(halt.QuotaConsume, 1, next, true, 1, 0)
	})
	t.Run("BillingDayInTimeZone", func(t *testing.T) {
		ny, err := time.LoadLocation("America/New_York")
		if err != nil {
			t.Skipf("no time zone data: %v", err)
		}
		c := newQuotaCase(t, newStore(t), halt.Quota{Name: "billing", Limit: 1, Period: halt.Monthly, BillingDay: 31, Location: ny})
		// February 2027 has 28 days: the period anchored on the 31st starts
		// at midnight of the 28th in New York (05:00 UTC).
		before := time.Date(2027, 2, 28, 4, 59, 59, 0, time.UTC)
		after := time.Date(2027, 2, 28, 5, 0, 0, 0, time.UTC)
		c.want(halt.QuotaConsume, 1, before, true, 1, 0)
		c.want(halt.QuotaConsume, 1, before, false, 1, 0)
		c.want(halt.QuotaConsume, 1, after, true, 1, 0)
	})
	t.Run("PeriodByTheStoresInstant", func(t *testing.T) {
		// The app's clock says 23:59:59 on January 31, the store's is past
		// midnight: the store counts in February, the period holding its
		// instant; an app running ahead, in February too.
		c := newQuotaCase(t, newStore(t), halt.Quota{Name: "skew", Limit: 10, Period: halt.Monthly})
		late := time.Date(2027, 1, 31, 23, 59, 59, 0, time.UTC)
		store := time.Date(2027, 2, 1, 0, 0, 1, 0, time.UTC)
		early := time.Date(2027, 2, 1, 0, 10, 0, 0, time.UTC)
		feb, mar := time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC).Unix()
		for i, app := range []time.Time{late, early} {
			r := c.op(halt.QuotaConsume, 1, app, store)
			if !r.Allowed || r.Used != int64(i+1) || r.Start != feb || r.End != mar {
				t.Fatalf("app at %v, store at %v: %+v, want used %d in [%d, %d)", app, store, r, i+1, feb, mar)
			}
		}
	})
	if _, ok := newStore(t).(halt.QuotaMultiTaker); ok {
		t.Run("WithPolicies", func(t *testing.T) { runQuotaMultiTests(t, newStore) })
	}
	t.Run("ConcurrentConsumeExactlyTheLimit", func(t *testing.T) {
		if n := RunQuotaConsume(t, newStore(t), unique("quota-hammer"), 64, 4); n != QuotaHammerLimit {
			t.Fatalf("admitted %d, want exactly %d", n, QuotaHammerLimit)
		}
	})
}

// QuotaHammerLimit is the limit of the quota [RunQuotaConsume] hammers.
const QuotaHammerLimit = 100

// QuotaHammer is the quota [RunQuotaConsume] hammers, named name.
func QuotaHammer(name string) halt.Quota {
	return halt.Quota{Name: name, Limit: QuotaHammerLimit, Period: halt.Monthly}
}

// RunQuotaConsume runs workers goroutines, each consuming 1 each times from
// [QuotaHammer](name) at [QuotaBase] for one key, and returns how many
// consumes were admitted: over every caller of every process sharing the
// store, exactly [QuotaHammerLimit].
func RunQuotaConsume(t testing.TB, store halt.Store, name string, workers, each int) int64 {
	t.Helper()
	qs := store.(halt.QuotaStore)
	q := QuotaHammer(name)
	key := halt.QuotaKey(q.Name, "acct:7")
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			op := halt.QuotaOp{Kind: halt.QuotaConsume, Limit: q.Limit, Amount: 1, Now: QuotaBase, Bounds: q.QuotaBounds(QuotaBase)}
			for i := 0; i < each; i++ {
				r, err := qs.Quota(context.Background(), key, &op)
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
	return admitted.Load()
}

// takeAllQuotas calls TakeAllQuotas at QuotaBase for MultiQuota's policies
// and quota, consuming cost, and returns whether it admitted, each
// policy's answer and the quota's.
func takeAllQuotas(t testing.TB, store halt.Store, name string, cost int64) (bool, []halt.Result, halt.QuotaResult, error) {
	ps, keys, q, qkey := MultiQuota(name)
	out := make([]halt.Result, len(ps))
	qout := make([]halt.QuotaResult, 1)
	ops := []halt.QuotaOp{{Kind: halt.QuotaConsume, Limit: q.Limit, Amount: cost, Now: QuotaBase, Bounds: q.QuotaBounds(QuotaBase)}}
	err := store.(halt.QuotaMultiTaker).TakeAllQuotas(context.Background(), keys, ps, QuotaBase, cost, out, [][]byte{qkey}, ops, qout)
	ok := err == nil && qout[0].Allowed
	for i := range out {
		ok = ok && out[i].Allowed
	}
	return ok, out, qout[0], err
}

// MultiQuota returns the policies, keys, quota and quota key of the
// policies-and-quota runs named name: a token bucket of 4 per hour (burst
// 4), one of 30 per hour, and a monthly quota of 10, one client.
func MultiQuota(name string) ([]*halt.Policy, [][]byte, halt.Quota, []byte) {
	ps := []*halt.Policy{
		{Name: name + "-burst", Limit: 4, Window: time.Hour},
		{Name: name + "-hour", Limit: 30, Window: time.Hour},
	}
	keys := make([][]byte, len(ps))
	for i, p := range ps {
		keys[i] = []byte("halt:" + p.Name + ":{key:abc}")
	}
	q := halt.Quota{Name: name + "-month", Limit: 10, Period: halt.Monthly}
	return ps, keys, q, halt.QuotaKey(q.Name, "key:abc")
}

func runQuotaMultiTests(t *testing.T, newStore func(t *testing.T) halt.Store) {
	t.Run("RateRejectionSpendsNoQuota", func(t *testing.T) {
		s, name := newStore(t), unique("tq-rate")
		for i := 0; i < 4; i++ {
			if ok, out, qr, err := takeAllQuotas(t, s, name, 1); !ok || qr.Used != int64(i+1) || out[0].Remaining != int64(3-i) {
				t.Fatalf("take %d: %v %+v %+v %v", i+1, ok, out, qr, err)
			}
		}
		ok, out, qr, err := takeAllQuotas(t, s, name, 1)
		if err != nil || ok || out[0].Allowed || out[0].Reason != halt.ReasonLimited || !out[1].Allowed || out[1].Remaining != 26 || !qr.Allowed || qr.Used != 4 {
			t.Fatalf("the 5th, over the burst: %v %+v %+v %v; want the burst rejecting, the hour at 26 and the quota at 4, untouched", ok, out, qr, err)
		}
	})
	t.Run("QuotaRejectionSpendsNoRate", func(t *testing.T) {
		s, name := newStore(t), unique("tq-quota")
		if ok, _, qr, err := takeAllQuotas(t, s, name, 2); !ok || qr.Used != 2 {
			t.Fatalf("cost 2: %v %+v %v", ok, qr, err)
		}
		_, _, q, qkey := MultiQuota(name)
		op := halt.QuotaOp{Kind: halt.QuotaConsume, Limit: q.Limit, Amount: 7, Now: QuotaBase, Bounds: q.QuotaBounds(QuotaBase)}
		if r, err := s.(halt.QuotaStore).Quota(context.Background(), qkey, &op); err != nil || r.Used != 9 {
			t.Fatalf("consume 7 more: %+v %v", r, err)
		}
		// Both policies would admit cost 2 (the burst has 2 left); the quota
		// has 1.
		ok, out, qr, err := takeAllQuotas(t, s, name, 2)
		if err != nil || ok || qr.Allowed || qr.Used != 9 || !out[0].Allowed || out[0].Remaining != 1 || !out[1].Allowed || out[1].Remaining != 14 {
			t.Fatalf("cost 2 with 1 left in the quota: %v %+v %+v %v; want the quota rejecting and both policies as they were", ok, out, qr, err)
		}
		if ok, _, qr, err := takeAllQuotas(t, s, name, 1); !ok || qr.Used != 10 {
			t.Fatalf("cost 1 takes the last one: %v %+v %v", ok, qr, err)
		}
	})
	t.Run("ConcurrentExactlyTheQuota", func(t *testing.T) {
		s, name := newStore(t), unique("tq-hammer")
		if n := RunQuotaTakeAll(t, s, name, 64, 4, 50); n != 10 {
			t.Fatalf("admitted %d, want exactly 10 (the quota)", n)
		}
	})
}

// RunQuotaTakeAll runs workers goroutines, each calling TakeAllQuotas each
// times on [MultiQuota](name) with the first policy's limit set to burst,
// and returns how many were admitted: with a burst above 10, exactly 10
// (the quota) over every caller of every process sharing the store.
func RunQuotaTakeAll(t testing.TB, store halt.Store, name string, workers, each int, burst int64) int64 {
	t.Helper()
	mt := store.(halt.QuotaMultiTaker)
	ps, keys, q, qkey := MultiQuota(name)
	ps[0].Limit = burst
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]halt.Result, len(ps))
			qout := make([]halt.QuotaResult, 1)
			ops := []halt.QuotaOp{{Kind: halt.QuotaConsume, Limit: q.Limit, Amount: 1, Now: QuotaBase, Bounds: q.QuotaBounds(QuotaBase)}}
			for i := 0; i < each; i++ {
				if err := mt.TakeAllQuotas(context.Background(), keys, ps, QuotaBase, 1, out, [][]byte{qkey}, ops, qout); err != nil {
					t.Error(err)
					return
				}
				if qout[0].Allowed && out[0].Allowed && out[1].Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return admitted.Load()
}
