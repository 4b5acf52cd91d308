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
