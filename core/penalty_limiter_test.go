package halt_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

var demoPenalty = halt.PenaltyConfig{Threshold: 5, Duration: 10 * time.Minute, Multiplier: 0.5, DecayRate: 1,
	Escalation: 2, Memory: 24 * time.Hour}

// Every rejection records a violation; the fifth starts a penalty that
// halves the limit (and reports it); a repeat lasts twice as long; a ban
// rejects everything until it is lifted. The same on a store that applies
// the penalty inside the decision (halt.PenaltyTaker) and on one that
// does not (the multi-call path).
func TestLimiterPenalties(t *testing.T) {
	for name, s := range map[string]halt.Store{"PenaltyTaker": newMapStore(), "MultiCall": halttest.InOrder(newMapStore())} {
		t.Run(name, func(t *testing.T) {
			if _, ok := s.(halt.PenaltyTaker); ok != (name == "PenaltyTaker") {
				t.Fatalf("%T: PenaltyTaker %v", s, ok)
			}
			testLimiterPenalties(t, s)
		})
	}
}

func testLimiterPenalties(t *testing.T, s halt.Store) {
	ctx := context.Background()
	clock := halttest.NewClock(halttest.Base)
	sink := &notices{}
	p := halt.Policy{Name: "plan", Limit: 10, Window: time.Minute}
	l, err := halt.New(s, p, halt.WithPenalties(demoPenalty, 1), halt.WithClock(clock), halt.WithTelemetry(sink))
	if err != nil {
		t.Fatal(err)
	}
	r := req("203.0.113.5:1")
	run := func(n int) (admitted int, last halt.Decision) {
		t.Helper()
		for i := 0; i < n; i++ {
			d, err := l.Check(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed {
				admitted++
			}
			last = d
		}
		return admitted, last
	}
	if n, _ := run(15); n != 10 {
		t.Fatalf("admitted %d of 15, want 10", n)
	}
	pen, err := l.Penalty(ctx, r)
	if err != nil || !pen.Active || pen.Multiplier != 0.5 || pen.Strike != 1 || !pen.Until.Equal(halttest.Base.Add(10*time.Minute)) || pen.Score != 0 {
		t.Fatalf("after 5 rejections: %+v %v", pen, err)
	}
	if k := sink.kinds(); len(k) != 1 || k[0] != halt.NoticePenaltyStart {
		t.Fatalf("notices %v", k)
	}
	st, err := l.Standing(ctx, r)
	if err != nil || len(st) != 1 || st[0].Limit != 5 {
		t.Fatalf("standing while penalized: %+v %v, want limit 5", st, err)
	}
	// A minute refills 5 at the halved rate, and the bucket holds 5.
	clock.Advance(time.Minute)
	if n, d := run(6); n != 5 || d.Limit != 5 || d.Reason != halt.ReasonLimited {
		t.Fatalf("penalized minute: admitted %d, last %+v", n, d)
	}
	// Past the penalty the limit is whole again; 5 more rejections
	// (score decayed a little: 1 + 5 - 11/60 >= 5) start a second one, of 20 minutes.
	clock.Advance(10 * time.Minute)
	if n, _ := run(15); n != 10 {
		t.Fatalf("after the penalty: admitted %d of 15, want 10", n)
	}
	pen, _ = l.Penalty(ctx, r)
	if !pen.Active || pen.Strike != 2 || !pen.Until.Equal(clock.Now().Add(20*time.Minute)) {
		t.Fatalf("the repeat: %+v, want strike 2 for 20 minutes", pen)
	}
	// A ban.
	if _, err := l.Ban(ctx, r, time.Hour); err != nil {
		t.Fatal(err)
	}
	_, d := run(1)
	if d.Allowed || d.Reason != halt.ReasonBanned || d.RetryAfter != time.Hour {
		t.Fatalf("banned: %+v", d)
	}
	if status, body := l.Rejection(&d); status != http.StatusForbidden || !strings.HasPrefix(string(body), `{"error":"banned",`) ||
		!strings.HasSuffix(string(body), `"retry_after":3600}`) {
		t.Fatalf("banned: %d %s, want 403 and the banned body", status, body)
	}
	if _, err := l.Unban(ctx, r); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if n, _ := run(1); n != 1 {
		t.Fatal("unbanned and not penalized: rejected")
	}
	want := []halt.NoticeKind{halt.NoticePenaltyStart, halt.NoticePenaltyStart, halt.NoticeBan, halt.NoticePenaltyEnd}
	if k := sink.kinds(); len(k) != len(want) || k[1] != want[1] || k[2] != want[2] || k[3] != want[3] {
		t.Fatalf("notices %v, want %v", k, want)
	}
}

func TestPenaltyManager(t *testing.T) {
	ctx := context.Background()
	clock := halttest.NewClock(halttest.Base)
	m, err := halt.NewPenaltyManager(halttest.NewMapStore(), demoPenalty, halt.ManagerClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		p, err := m.RecordViolation(ctx, "user_123", 1)
		if err != nil || p.Active || p.Score != float64(i) {
			t.Fatalf("violation %d: %+v %v", i, p, err)
		}
	}
	clock.Advance(30 * time.Minute) // decays half a point
	if p, _ := m.Status(ctx, "user_123"); p.Score != 3.5 || p.Active {
		t.Fatalf("after half an hour: %+v", p)
	}
	p, err := m.RecordViolation(ctx, "user_123", 1.5)
	if err != nil || !p.IsActive() || !p.Started || p.Multiplier != 0.5 || !p.Until.Equal(clock.Now().Add(10*time.Minute)) {
		t.Fatalf("the threshold: %+v %v", p, err)
	}
	for _, sev := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := m.RecordViolation(ctx, "user_123", sev); !errors.Is(err, halt.ErrInvalidAmount) {
			t.Fatalf("severity %v: %v, want ErrInvalidAmount", sev, err)
		}
	}
	if _, err := m.Ban(ctx, "user_123", -time.Second); !errors.Is(err, halt.ErrInvalidAmount) {
		t.Fatalf("negative ban: %v, want ErrInvalidAmount", err)
	}
	if _, err := halt.NewPenaltyManager(nil, demoPenalty); err == nil {
		t.Fatal("nil store accepted")
	}
	if _, err := halt.NewPenaltyManager(halttest.NewMapStore(), halt.PenaltyConfig{}); err == nil {
		t.Fatal("zero config accepted")
	}
	if _, err := halt.NewPenaltyManager(halttest.FailingStore{}, demoPenalty); err == nil {
		t.Fatal("a store without penalties accepted")
	}
}

func TestPenaltyDurationEscalates(t *testing.T) {
	c := halt.PenaltyConfig{Threshold: 1, Duration: 10 * time.Minute, Multiplier: 0.5, Escalation: 2, MaxDuration: time.Hour}
	for strike, want := range map[int64]time.Duration{1: 10 * time.Minute, 2: 20 * time.Minute, 3: 40 * time.Minute, 4: time.Hour, 50: time.Hour} {
		if got := c.PenaltyDuration(strike); got != want {
			t.Errorf("strike %d: %v, want %v", strike, got, want)
		}
	}
	c.Escalation, c.MaxDuration = 0, 0
	if got := c.PenaltyDuration(7); got != 10*time.Minute {
		t.Errorf("no escalation: %v", got)
	}
}

// A ban answers 403 Forbidden by default; WithRejectStatus answers it as
// rate limiting instead.
func TestBannedStatus(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		opts []halt.Option
		want int
	}{{nil, http.StatusForbidden}, {[]halt.Option{halt.WithRejectStatus(halt.ReasonBanned, http.StatusTooManyRequests)}, http.StatusTooManyRequests}} {
		opts := append([]halt.Option{halt.WithPenalties(demoPenalty, 1), halt.WithClock(halttest.NewClock(halttest.Base))}, c.opts...)
		l, err := halt.New(newMapStore(), halt.Policy{Name: "plan", Limit: 10, Window: time.Minute}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		r := req("203.0.113.6:1")
		if _, err := l.Ban(ctx, r, time.Minute); err != nil {
			t.Fatal(err)
		}
		d, err := l.Check(ctx, r)
		if status, _ := l.Rejection(&d); err != nil || d.Reason != halt.ReasonBanned || status != c.want || d.RetrySeconds() != 60 {
			t.Fatalf("banned: %+v %v, status %d; want %d with Retry-After 60", d, err, status, c.want)
		}
	}
}

// bannedStore is a MapStore whose penalty reads say every client is
// banned for the hour after halttest.Base, without allocating (MapStore's
// own do), so that a count of allocations is the limiter's.
type bannedStore struct{ *halttest.MapStore }

func (bannedStore) Penalty(context.Context, []byte, *halt.PenaltyOp) (halt.PenaltyState, int64, bool, error) {
	at := halttest.Base.UnixMicro()
	return halt.PenaltyState{Until: at + time.Hour.Microseconds(), Banned: true}, at, false, nil
}

// A banned client's check allocates nothing, on the one-call path and on
// the multi-call path, and is still refused.
func TestBannedCheckAllocs(t *testing.T) {
	ctx := context.Background()
	p := halt.Policy{Name: "plan", Limit: 10, Window: time.Minute}
	tenant := halt.Policy{Name: "tenant", Limit: 100, Window: time.Minute, KeyStrategy: halt.KeyCustom,
		KeyFunc: func(halt.Request) (string, bool) { return "tenant-1", true }}
	for _, c := range []struct {
		name  string
		store halt.Store
		extra []halt.Option
	}{
		{"one call", newMapStore(), nil},
		{"multi-call", bannedStore{newMapStore()}, []halt.Option{halt.WithPolicies(tenant)}},
	} {
		name := c.name
		opts := append([]halt.Option{halt.WithPenalties(demoPenalty, 1), halt.WithClock(halttest.NewClock(halttest.Base)),
			halt.WithTelemetry(halt.NopTelemetry{})}, c.extra...)
		l, err := halt.New(c.store, p, opts...)
		if err != nil {
			t.Fatal(err)
		}
		r := req("203.0.113.8:1")
		if _, err := l.Ban(ctx, r, time.Hour); err != nil {
			t.Fatal(err)
		}
		var d halt.Decision
		allocs := testing.AllocsPerRun(100, func() { d, _ = l.Check(ctx, r) })
		if d.Reason != halt.ReasonBanned || d.RetryAfter != time.Hour || allocs != 0 {
			t.Errorf("%s: %v, retry %v, %v allocations; want banned for an hour, none", name, d.Reason, d.RetryAfter, allocs)
		}
	}
}

// countingStore counts a MapStore's top-level calls.
type countingStore struct {
	*halttest.MapStore
	takePenalized, penalty, take, takeAll atomic.Int64
}

func (s *countingStore) TakePenalized(ctx context.Context, pt *halt.PenalizedTake) error {
	s.takePenalized.Add(1)
	return s.MapStore.TakePenalized(ctx, pt)
}

func (s *countingStore) Penalty(ctx context.Context, key []byte, op *halt.PenaltyOp) (halt.PenaltyState, int64, bool, error) {
	s.penalty.Add(1)
	return s.MapStore.Penalty(ctx, key, op)
}

func (s *countingStore) Take(ctx context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) (halt.Result, error) {
	s.take.Add(1)
	return s.MapStore.Take(ctx, key, p, now, cost)
}

func (s *countingStore) TakeAll(ctx context.Context, keys [][]byte, ps []*halt.Policy, now time.Time, cost int64, out []halt.Result) error {
	s.takeAll.Add(1)
	return s.MapStore.TakeAll(ctx, keys, ps, now, cost, out)
}

// A check of a limiter with penalties on a PenaltyTaker is one store call,
// admission or refusal, when every policy keys the limiter's client; with
// a policy keyed otherwise it takes the multi-call path (the penalty read
// with a call of its own, a refusal's violation with another).
func TestPenaltyOneStoreCall(t *testing.T) {
	ctx := context.Background()
	p := halt.Policy{Name: "plan", Limit: 10, Window: time.Minute}
	s := &countingStore{MapStore: newMapStore()}
	l, err := halt.New(s, p, halt.WithPenalties(demoPenalty, 1), halt.WithClock(halttest.NewClock(halttest.Base)))
	if err != nil {
		t.Fatal(err)
	}
	admitted := 0
	for range 16 {
		if d, err := l.Check(ctx, req("203.0.113.7:1")); err != nil {
			t.Fatal(err)
		} else if d.Allowed {
			admitted++
		}
	}
	if admitted != 10 || s.takePenalized.Load() != 16 || s.penalty.Load() != 0 || s.take.Load() != 0 || s.takeAll.Load() != 0 {
		t.Fatalf("one client: admitted %d; calls TakePenalized %d, Penalty %d, Take %d, TakeAll %d; want 10 and 16 TakePenalized only",
			admitted, s.takePenalized.Load(), s.penalty.Load(), s.take.Load(), s.takeAll.Load())
	}
	if pen, err := l.Penalty(ctx, req("203.0.113.7:1")); err != nil || !pen.Active {
		t.Fatalf("the fifth refusal started no penalty: %+v %v", pen, err)
	}

	s = &countingStore{MapStore: newMapStore()}
	tenant := halt.Policy{Name: "tenant", Limit: 100, Window: time.Minute, KeyStrategy: halt.KeyCustom,
		KeyFunc: func(halt.Request) (string, bool) { return "tenant-1", true }}
	l, err = halt.New(s, p, halt.WithPolicies(tenant), halt.WithPenalties(demoPenalty, 1), halt.WithClock(halttest.NewClock(halttest.Base)))
	if err != nil {
		t.Fatal(err)
	}
	admitted = 0
	for range 16 {
		if d, err := l.Check(ctx, req("203.0.113.7:1")); err != nil {
			t.Fatal(err)
		} else if d.Allowed {
			admitted++
		}
	}
	// 16 reads, 6 violations recorded (the sixth refusal at the reduced limit too).
	if admitted != 10 || s.takePenalized.Load() != 0 || s.penalty.Load() != 16+6 {
		t.Fatalf("two clients: admitted %d; calls TakePenalized %d, Penalty %d; want 10, the multi-call path",
			admitted, s.takePenalized.Load(), s.penalty.Load())
	}
	if pen, err := l.Penalty(ctx, req("203.0.113.7:1")); err != nil || !pen.Active {
		t.Fatalf("the fifth refusal started no penalty: %+v %v", pen, err)
	}
}

// A limiter whose only policy is a shadow one still refuses a banned
// client (nothing else is decided, so the ban is read on its own).
func TestBannedWithShadowPolicyOnly(t *testing.T) {
	ctx := context.Background()
	p := halt.Policy{Name: "trial", Limit: 1, Window: time.Minute, Shadow: true}
	l, err := halt.New(newMapStore(), p, halt.WithPenalties(demoPenalty, 1), halt.WithClock(halttest.NewClock(halttest.Base)))
	if err != nil {
		t.Fatal(err)
	}
	r := req("203.0.113.8:1")
	if d, err := l.Check(ctx, r); err != nil || !d.Allowed {
		t.Fatalf("before the ban: %+v %v", d, err)
	}
	if _, err := l.Ban(ctx, r, time.Minute); err != nil {
		t.Fatal(err)
	}
	if d, err := l.Check(ctx, r); err != nil || d.Allowed || d.Reason != halt.ReasonBanned {
		t.Fatalf("banned: %+v %v", d, err)
	}
}
