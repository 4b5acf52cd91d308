package halt_test

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

// TestCountFailures is the OTP shape: 3 failures per 10 minutes; right
// codes never count, wrong ones do, and the 4th attempt after 3 wrong
// ones is rejected whatever its code.
func TestCountFailures(t *testing.T) {
	l := newLimiter(t, halt.Policy{Name: "otp_failures", Limit: 3, Window: 10 * time.Minute, Count: halt.CountFailures})
	ctx := context.Background()
	r := req("203.0.113.1:1")
	attempt := func(status int) halt.Decision {
		t.Helper()
		d, err := l.Check(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			if !d.NeedsFinish() {
				t.Fatalf("a Count policy's decision must ask for Finish: %+v", d)
			}
			if err := l.Finish(ctx, r, &d, status); err != nil {
				t.Fatal(err)
			}
			if err := l.Finish(ctx, r, &d, status); err != nil { // idempotent
				t.Fatal(err)
			}
		}
		return d
	}
	for i := range 50 {
		if d := attempt(http.StatusOK); !d.Allowed || d.Remaining != 2 {
			t.Fatalf("right code %d: %+v", i+1, d)
		}
	}
	for i := range 3 {
		if d := attempt(http.StatusUnauthorized); !d.Allowed || d.Remaining != int64(2-i) {
			t.Fatalf("wrong code %d: %+v", i+1, d)
		}
	}
	if d := attempt(http.StatusOK); d.Allowed || d.RetrySeconds() != 200 {
		t.Fatalf("4th attempt after 3 failures: %+v, want a rejection for 200 s", d)
	}
}

// TestCountSuccessesMulti: on a limiter with two policies only the one
// that counts by outcome gives back.
func TestCountSuccessesMulti(t *testing.T) {
	extra := halt.Policy{Name: "every", Limit: 10, Window: time.Hour}
	l := newLimiter(t, halt.Policy{Name: "ok_only", Limit: 10, Window: time.Hour, Count: halt.CountSuccesses},
		halt.WithPolicies(extra))
	ctx := context.Background()
	r := req("203.0.113.1:1")
	for range 3 {
		d, _ := l.Check(ctx, r)
		if !d.NeedsFinish() {
			t.Fatal("a limiter with a Count policy must ask for Finish")
		}
		if err := l.Finish(ctx, r, &d, 500); err != nil {
			t.Fatal(err)
		}
	}
	st, err := l.Standing(ctx, r)
	if err != nil || len(st) != 2 || st[0].Remaining != 10 || st[1].Remaining != 7 {
		t.Fatalf("standing after 3 failures: %+v %v", st, err)
	}
}

func TestSettle(t *testing.T) {
	l := newLimiter(t, halt.Policy{Name: "tokens", Limit: 10, Window: 10 * time.Second})
	ctx := context.Background()
	r := req("203.0.113.1:1")
	remaining := func() int64 {
		t.Helper()
		st, err := l.Standing(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return st[0].Remaining
	}
	d, _ := l.CheckCost(ctx, r, 5)
	if !d.Allowed || d.Remaining != 1 { // 5 left: one more request of cost 5
		t.Fatalf("estimate: %+v", d)
	}
	if err := l.Settle(ctx, r, &d, 8); err != nil || remaining() != 2 {
		t.Fatalf("settled up to 8: %v, %d left", err, remaining())
	}
	if err := l.Settle(ctx, r, &d, 3); err != nil || remaining() != 7 {
		t.Fatalf("settled down to 3: %v, %d left", err, remaining())
	}
	if err := l.Settle(ctx, r, &d, 20); err != nil {
		t.Fatal(err)
	}
	// 17 more taken from 7: 10 tokens of debt, 11 s until one is back.
	if d2, _ := l.Check(ctx, r); d2.Allowed || d2.RetryAfter != 11*time.Second {
		t.Fatalf("after settling into debt: %+v", d2)
	}
	if err := l.Settle(ctx, r, &d, -1); err == nil {
		t.Fatal("a negative actual cost must be an error")
	}
	// Undo after a settle gives back what was settled.
	if err := l.Undo(ctx, r, &d); err != nil {
		t.Fatal(err)
	}
	if got := remaining(); got != 10 {
		t.Fatalf("after Undo of the settled 20: %d left, want 10", got)
	}
}

// waitFor polls cond (goroutines reaching a wait) without sleeping on the
// rate-limit clock.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // scheduling, not rate-limit time
	}
}

// TestMaxWait: 5 per second, burst 1, waiting at most 1 s: 5 requests at
// once all pass, 200 ms apart on the injected clock; the 6th to 10th ask
// waits of 1 s and more.
func TestMaxWait(t *testing.T) {
	clock := halttest.NewClock(halttest.Base)
	l, err := halt.New(newMapStore(), halt.Policy{Name: "smooth", Limit: 5, Window: time.Second, Burst: 1, MaxWait: time.Second},
		halt.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := req("203.0.113.1:1")
	d, _ := l.Check(ctx, r)
	if !d.Allowed || d.Wait != 0 {
		t.Fatalf("first: %+v", d)
	}
	results := make(chan halt.Decision, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := l.Check(ctx, r)
			if err != nil {
				t.Error(err)
			}
			results <- d
		}()
	}
	waitFor(t, "4 waiters", func() bool { return clock.Timers() == 4 })
	if l.Waiting() != 4 {
		t.Fatalf("Waiting() = %d, want 4", l.Waiting())
	}
	// The 6th would wait 1 s: admitted as well; the 7th (1.2 s) is not.
	d6 := make(chan halt.Decision, 1)
	go func() { d, _ := l.Check(ctx, r); d6 <- d }()
	waitFor(t, "the 6th waiter", func() bool { return clock.Timers() == 5 })
	if d7, _ := l.Check(ctx, r); d7.Allowed || d7.Reason != halt.ReasonLimited || d7.RetryAfter != 200*time.Millisecond {
		t.Fatalf("7th: %+v, want a rejection, retry in 200 ms", d7)
	}
	var waits []time.Duration
	for i := range 4 {
		clock.Advance(200 * time.Millisecond)
		d := <-results
		if !d.Allowed {
			t.Fatalf("waiter %d: %+v", i, d)
		}
		waits = append(waits, d.Wait)
	}
	wg.Wait()
	for i, w := range waits {
		if w != time.Duration(i+1)*200*time.Millisecond {
			t.Fatalf("waits %v, want 200ms apart", waits)
		}
	}
	clock.Advance(200 * time.Millisecond)
	if d := <-d6; !d.Allowed || d.Wait != time.Second {
		t.Fatalf("6th: %+v", d)
	}
	if l.Waiting() != 0 || clock.Timers() != 0 {
		t.Fatalf("after the waits: %d waiting, %d timers", l.Waiting(), clock.Timers())
	}
}

// TestMaxWaitCanceled: a waiter whose context ends is rejected with
// ReasonCanceled and its token goes back.
func TestMaxWaitCanceled(t *testing.T) {
	clock := halttest.NewClock(halttest.Base)
	l, err := halt.New(newMapStore(), halt.Policy{Name: "smooth", Limit: 5, Window: time.Second, Burst: 1, MaxWait: time.Second},
		halt.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	r := req("203.0.113.1:1")
	_, _ = l.Check(context.Background(), r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan halt.Decision, 1)
	var cerr error
	go func() { d, err := l.Check(ctx, r); cerr = err; done <- d }()
	waitFor(t, "the waiter", func() bool { return clock.Timers() == 1 })
	cancel()
	d := <-done
	if d.Allowed || d.Reason != halt.ReasonCanceled || !errors.Is(cerr, context.Canceled) {
		t.Fatalf("canceled waiter: %+v %v", d, cerr)
	}
	if clock.Timers() != 0 || l.Waiting() != 0 {
		t.Fatalf("a canceled waiter left %d timers, %d waiting", clock.Timers(), l.Waiting())
	}
	// Its token went back: the next request waits 200 ms, not 400.
	go func() { d, _ := l.Check(context.Background(), r); done <- d }()
	waitFor(t, "the next waiter", func() bool { return clock.Timers() == 1 })
	clock.Advance(200 * time.Millisecond)
	if d := <-done; !d.Allowed || d.Wait != 200*time.Millisecond {
		t.Fatalf("after a canceled wait: %+v", d)
	}
}

// TestWaitLimits: beyond the per-key bound a request is rejected at once
// and gives its reservation back.
func TestWaitLimits(t *testing.T) {
	clock := halttest.NewClock(halttest.Base)
	l, err := halt.New(newMapStore(), halt.Policy{Name: "smooth", Limit: 5, Window: time.Second, Burst: 1, MaxWait: 10 * time.Second},
		halt.WithClock(clock), halt.WithWaitLimits(2, 3))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, b := req("203.0.113.1:1"), req("203.0.113.2:1")
	_, _ = l.Check(ctx, a)
	_, _ = l.Check(ctx, b)
	done := make(chan halt.Decision, 8)
	for _, r := range []*halttest.FakeRequest{a, a, b} {
		n := clock.Timers() + 1
		go func() { d, _ := l.Check(ctx, r); done <- d }()
		waitFor(t, "a waiter", func() bool { return clock.Timers() == n })
	}
	// a has 2 waiters (its bound), the limiter 3 (its bound).
	if d, _ := l.Check(ctx, a); d.Allowed || d.Reason != halt.ReasonLimited || d.RetryAfter <= 0 {
		t.Fatalf("third waiter of a key: %+v", d)
	}
	if d, _ := l.Check(ctx, b); d.Allowed {
		t.Fatalf("fourth waiter of the limiter: %+v", d)
	}
	clock.Advance(time.Second)
	for range 3 {
		if d := <-done; !d.Allowed {
			t.Fatalf("waiter: %+v", d)
		}
	}
	// The refused ones took nothing: a's bucket is full again (burst 1)
	// and the one after waits 200 ms.
	if d, _ := l.Check(ctx, a); !d.Allowed || d.Wait != 0 {
		t.Fatalf("a after the waits: %+v", d)
	}
	go func() { d, _ := l.Check(ctx, a); done <- d }()
	waitFor(t, "a's next waiter", func() bool { return clock.Timers() == 1 })
	clock.Advance(200 * time.Millisecond)
	if d := <-done; !d.Allowed || d.Wait != 200*time.Millisecond {
		t.Fatalf("a's next waiter: %+v", d)
	}
	if _, err := halt.New(newMapStore(), halt.Policy{Name: "x", Limit: 1, Window: time.Second}, halt.WithWaitLimits(0, 1)); err == nil {
		t.Fatal("WithWaitLimits(0, 1) must be an error")
	}
}

func TestInFlight(t *testing.T) {
	clock := halttest.NewClock(halttest.Base)
	l, err := halt.New(newMapStore(), halt.Policy{Name: "export_inflight", Limit: 2, Window: time.Minute, Algorithm: halt.InFlight},
		halt.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := req("203.0.113.1:1")
	d1, _ := l.Check(ctx, r)
	d2, _ := l.Check(ctx, r)
	d3, _ := l.Check(ctx, r)
	if !d1.Allowed || d1.Remaining != 1 || !d2.Allowed || d2.Remaining != 0 || !d1.NeedsFinish() {
		t.Fatalf("first two: %+v %+v", d1, d2)
	}
	if d3.Allowed || d3.RetrySeconds() != 1 {
		t.Fatalf("third in flight: %+v", d3)
	}
	if err := l.Finish(ctx, r, &d1, 200); err != nil {
		t.Fatal(err)
	}
	if d, _ := l.Check(ctx, r); !d.Allowed {
		t.Fatalf("after one finished: %+v", d)
	}
	// Leases never released free themselves after the lease (Window).
	clock.Advance(time.Minute)
	if d, _ := l.Check(ctx, r); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("after the leases expired: %+v", d)
	}
	// A canceled request context still releases.
	cctx, cancel := context.WithCancel(ctx)
	d, _ := l.Check(cctx, r)
	cancel()
	if err := l.Finish(cctx, r, &d, 499); err != nil {
		t.Fatal(err)
	}
	if d, _ := l.Check(ctx, r); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after a canceled request finished: %+v", d)
	}
}

func TestFlowConfigErrors(t *testing.T) {
	inflight := halt.Policy{Name: "inflight", Limit: 2, Window: time.Minute, Algorithm: halt.InFlight}
	smooth := halt.Policy{Name: "smooth", Limit: 5, Window: time.Second, Burst: 1, MaxWait: time.Second}
	plain := halt.Policy{Name: "plain", Limit: 5, Window: time.Second}
	for _, c := range []struct {
		name  string
		store halt.Store
		p     halt.Policy
		opts  []halt.Option
		want  string
	}{
		{"inflight with policies", newMapStore(), inflight, []halt.Option{halt.WithPolicies(plain)}, "only policy"},
		{"smooth with policies", newMapStore(), smooth, []halt.Option{halt.WithPolicies(plain)}, "only policy"},
		{"inflight without Leaser", takeOnly{newMapStore()}, inflight, nil, "halt.Leaser"},
		{"count without Refunder", takeOnly{newMapStore()}, halt.Policy{Name: "c", Limit: 1, Window: time.Second, Count: halt.CountFailures}, nil, "Refunder"},
	} {
		if _, err := halt.New(c.store, c.p, c.opts...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error about %q", c.name, err, c.want)
		}
	}
	for _, p := range []halt.Policy{
		{Name: "w", Limit: 5, Window: time.Second, MaxWait: -1},
		{Name: "w", Limit: 5, Window: time.Second, MaxWait: time.Second, Algorithm: halt.FixedWindow},
		{Name: "b", Limit: 5, Window: time.Second, Burst: 1},
		{Name: "i", Limit: 2, Window: time.Second, Algorithm: halt.InFlight, Cost: 2},
		{Name: "i", Limit: 2, Window: time.Second, Algorithm: halt.InFlight, Count: halt.CountFailures},
		{Name: "i", Limit: halt.MaxInFlight + 1, Window: time.Second, Algorithm: halt.InFlight},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v validated", p)
		}
	}
	if err := smooth.Validate(); err != nil {
		t.Errorf("burst below limit with MaxWait: %v", err)
	}
}

// takeOnly is a store with Take alone.
type takeOnly struct{ s halt.Store }

func (s takeOnly) Take(ctx context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) (halt.Result, error) {
	return s.s.Take(ctx, key, p, now, cost)
}
