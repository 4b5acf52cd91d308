package haltredis_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// banTest is a limiter with penalties on its own Redis server, a client
// hook counting round trips, and a caller's clock.
type banTest struct {
	t     *testing.T
	ctx   context.Context
	c     *redis.Client
	hook  *roundTrips
	hold  *holdHook
	clock *halttest.Clock
	s     *haltredis.Store
	l     *halt.Limiter
	req   *halttest.FakeRequest
}

// holdHook, once armed, holds the next command's reply after Redis gave it
// until released: a check whose answer arrives after something else.
type holdHook struct {
	armed             atomic.Bool
	answered, release chan struct{}
}

func (h *holdHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *holdHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if h.armed.CompareAndSwap(true, false) {
			h.answered <- struct{}{}
			<-h.release
		}
		return err
	}
}

func (h *holdHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func newBanTest(t *testing.T, wrap func(*haltredis.Store) halt.Store, opts ...haltredis.Option) *banTest {
	t.Helper()
	return startBanTest(t, wrap, true, opts...)
}

// startBanTest is newBanTest, on Redis TIME and the system clock unless
// callerClock.
func startBanTest(t *testing.T, wrap func(*haltredis.Store) halt.Store, callerClock bool, opts ...haltredis.Option) *banTest {
	t.Helper()
	srv := startServer(t)
	c := redis.NewClient(&redis.Options{Addr: srv.addr})
	t.Cleanup(func() { _ = c.Close() })
	b := &banTest{t: t, ctx: context.Background(), c: c, hook: &roundTrips{}, clock: halttest.NewClock(halttest.Base),
		req: &halttest.FakeRequest{Peer: "203.0.113.71:4242"}}
	b.hold = &holdHook{answered: make(chan struct{}), release: make(chan struct{})}
	c.AddHook(b.hook)
	c.AddHook(b.hold)
	clock := halt.SystemClock
	if callerClock {
		opts, clock = append([]haltredis.Option{haltredis.WithCallerClock()}, opts...), b.clock
	}
	b.s = newStore(t, c, opts...)
	var store halt.Store = b.s
	if wrap != nil {
		store = wrap(b.s)
	}
	b.l = penaltyLimiter(t, store, clock, halt.NopTelemetry{})
	// Another client's check loads the scripts, so that the counts below
	// are the checks' own round trips.
	if _, err := b.l.Check(b.ctx, &halttest.FakeRequest{Peer: "203.0.113.99:1"}); err != nil {
		t.Fatal(err)
	}
	return b
}

// check checks the client once and fails unless it is refused as banned
// with retry (or admitted, for retry 0) in trips round trips.
func (b *banTest) check(what string, retry time.Duration, trips int64) {
	b.t.Helper()
	before := b.hook.n.Load()
	d, err := b.l.Check(b.ctx, b.req)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	got := b.hook.n.Load() - before
	switch {
	case retry == 0 && !d.Allowed:
		b.t.Fatalf("%s: %v (retry %v), want admitted", what, d.Reason, d.RetryAfter)
	case retry > 0 && (d.Allowed || d.Reason != halt.ReasonBanned || d.RetryAfter != retry):
		b.t.Fatalf("%s: allowed %v, %v, retry %v; want banned, retry %v", what, d.Allowed, d.Reason, d.RetryAfter, retry)
	case got != trips:
		b.t.Fatalf("%s: %d round trips, want %d", what, got, trips)
	}
}

func (b *banTest) ban(d time.Duration) {
	b.t.Helper()
	if _, err := b.l.Ban(b.ctx, b.req, d); err != nil {
		b.t.Fatal(err)
	}
}

// TestBannedClientCached: a banned client's checks are answered by the
// over-limit cache, with no round trip, for a second at a time after Redis
// answered, with the ban's exact remaining time; an Unban through the
// same store takes effect at once, the ban's end at its end.
func TestBannedClientCached(t *testing.T) {
	b := newBanTest(t, nil)
	b.ban(time.Hour)
	b.check("first banned check", time.Hour, 1)
	for i := 1; i < 100; i++ {
		b.clock.Advance(10 * time.Millisecond)
		b.check("a cached ban", time.Hour-time.Duration(i)*10*time.Millisecond, 0)
	}
	b.clock.Advance(10 * time.Millisecond) // a second after Redis answered: asked again
	b.check("the ban a second later", time.Hour-time.Second, 1)
	b.check("cached again", time.Hour-time.Second, 0)

	if _, err := b.l.Unban(b.ctx, b.req); err != nil {
		t.Fatal(err)
	}
	b.check("after Unban through this store", 0, 1)

	// A ban of 1.5 s: cached for a second, then until its end, which is
	// seen at its end.
	b.ban(1500 * time.Millisecond)
	b.check("a short ban", 1500*time.Millisecond, 1)
	b.clock.Advance(time.Second)
	b.check("the short ban a second later", 500*time.Millisecond, 1)
	b.clock.Advance(499 * time.Millisecond)
	b.check("its last millisecond", time.Millisecond, 0)
	b.clock.Advance(time.Millisecond)
	b.check("at its end", 0, 1)
}

// TestBanCacheUnbanRace: a check whose banned answer arrives after an
// Unban through the same store returns that answer (it was true when
// Redis gave it) but leaves nothing in the cache: the next check is
// admitted.
func TestBanCacheUnbanRace(t *testing.T) {
	b := newBanTest(t, nil)
	b.ban(time.Hour)
	b.hold.armed.Store(true)
	type result struct {
		d   halt.Decision
		err error
	}
	done := make(chan result)
	go func() {
		d, err := b.l.Check(b.ctx, b.req)
		done <- result{d, err}
	}()
	<-b.hold.answered // Redis said banned; the reply is held
	if _, err := b.l.Unban(b.ctx, b.req); err != nil {
		t.Fatal(err)
	}
	close(b.hold.release)
	if r := <-done; r.err != nil || r.d.Reason != halt.ReasonBanned {
		t.Fatalf("the held check: %v, %v; want banned", r.d.Reason, r.err)
	}
	b.check("the check after the Unban", 0, 1)
}

// TestBanCacheOperationsDrop: a new Ban and a recorded violation through
// the same store drop the cached ban, as Unban does.
func TestBanCacheOperationsDrop(t *testing.T) {
	b := newBanTest(t, nil)
	b.ban(time.Hour)
	b.check("banned for an hour", time.Hour, 1)
	b.ban(2 * time.Hour)
	b.check("banned again, for two hours", 2*time.Hour, 1)
	b.check("the new ban, cached", 2*time.Hour, 0)
	cfg := halt.PenaltyConfig{Threshold: 2, Duration: 2 * time.Hour, Multiplier: 0.5}
	key := halt.PenaltyKey("ip:203.0.113.71")
	if _, _, _, err := b.s.Penalty(b.ctx, key, &halt.PenaltyOp{Kind: halt.PenaltyRecord, Config: &cfg, Severity: 1, Now: b.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	b.check("after a violation recorded through the store", 2*time.Hour, 1)
}

// TestBanCacheOtherStore: an Unban made through another Store (another
// process) is seen here when the cached ban lapses, a second after Redis
// answered at most.
func TestBanCacheOtherStore(t *testing.T) {
	b := newBanTest(t, nil)
	other := penaltyLimiter(t, newStore(t, b.c, haltredis.WithCallerClock()), b.clock, halt.NopTelemetry{})
	b.ban(time.Hour)
	b.check("banned", time.Hour, 1)
	if _, err := other.Unban(b.ctx, b.req); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(999 * time.Millisecond)
	b.check("unbanned elsewhere, within the second", time.Hour-999*time.Millisecond, 0)
	b.clock.Advance(time.Millisecond)
	b.check("unbanned elsewhere, a second later", 0, 1)
}

// TestBanCacheMultiCall: on the multi-call path (a store without
// halt.PenaltyTaker) the penalty read is answered by the cache too, so a
// banned check costs no round trip either.
func TestBanCacheMultiCall(t *testing.T) {
	b := newBanTest(t, func(s *haltredis.Store) halt.Store { return multiCall{s} })
	b.ban(time.Hour)
	b.check("banned", time.Hour, 1)
	b.clock.Advance(time.Millisecond)
	b.check("cached", time.Hour-time.Millisecond, 0)
	if _, err := b.l.Unban(b.ctx, b.req); err != nil {
		t.Fatal(err)
	}
	b.check("after Unban", 0, 2) // the penalty read, then the decision
}

// TestBanCacheOff: WithOverLimitCache(0) asks Redis for every banned check.
func TestBanCacheOff(t *testing.T) {
	b := newBanTest(t, nil, haltredis.WithOverLimitCache(0))
	b.ban(time.Hour)
	for range 3 {
		b.check("banned, no cache", time.Hour, 1)
	}
}

// TestBanCacheServerClock: with Redis TIME, the cached answers count the
// ban down on the store's monotonic clock, never past what Redis would say.
func TestBanCacheServerClock(t *testing.T) {
	b := startBanTest(t, nil, false)
	uncached := penaltyLimiter(t, newStore(t, b.c, haltredis.WithOverLimitCache(0)), halt.SystemClock, halt.NopTelemetry{})
	b.ban(time.Hour)
	var last time.Duration
	for i := range 20 {
		before := b.hook.n.Load()
		d, err := b.l.Check(b.ctx, b.req)
		if err != nil {
			t.Fatal(err)
		}
		trips := b.hook.n.Load() - before
		if d.Allowed || d.Reason != halt.ReasonBanned || d.RetryAfter <= 0 || d.RetryAfter > time.Hour {
			t.Fatalf("check %d: %+v", i, d)
		}
		if want := int64(min(i, 1) ^ 1); trips != want || (i > 0 && d.RetryAfter > last) {
			t.Fatalf("check %d: %d round trips, retry %v after %v; want %d, counting down", i, trips, d.RetryAfter, last, want)
		}
		last = d.RetryAfter
	}
	// What Redis says now, then the cache again: never more than Redis.
	p, err := uncached.Penalty(b.ctx, b.req)
	if err != nil {
		t.Fatal(err)
	}
	redisLeft := p.Until.Sub(p.At)
	d, err := b.l.Check(b.ctx, b.req)
	if err != nil || d.RetryAfter > redisLeft || d.RetryAfter < redisLeft-time.Second {
		t.Fatalf("cached retry %v (%v), Redis's remaining %v just before", d.RetryAfter, err, redisLeft)
	}
}
