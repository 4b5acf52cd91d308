package haltredis_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// penaltyKinds records the kinds of the notices it hears.
type penaltyKinds struct {
	halt.NopTelemetry
	kinds []halt.NoticeKind
}

func (p *penaltyKinds) OnNotice(_ context.Context, n halt.Notice) { p.kinds = append(p.kinds, n.Kind) }

// penaltyLimiter is a limiter with a fixed window of 10 per hour, a daily
// quota of 100 and penalties (threshold 2, two hours at half the limits)
// on s, on clock.
func penaltyLimiter(t *testing.T, s halt.Store, clock halt.Clock, tel halt.Telemetry) *halt.Limiter {
	t.Helper()
	l, err := halt.New(s, halt.Policy{Name: "plan", Limit: 10, Window: time.Hour, Algorithm: halt.FixedWindow},
		halt.WithQuotas(halt.Quota{Name: "day", Limit: 100, Period: halt.Daily}),
		halt.WithPenalties(halt.PenaltyConfig{Threshold: 2, Duration: 2 * time.Hour, Multiplier: 0.5}, 1),
		halt.WithClock(clock), halt.WithTelemetry(tel))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestPenalizedCheckOneRoundTrip: a check of a limiter with a rate limit,
// a quota and penalties on Redis is one round trip and one EVALSHA,
// whatever it does: admit, reject and record a violation, start a penalty,
// decide at the reduced limit, or reject a banned client. The violation
// that starts the penalty reduces the very next decision.
func TestPenalizedCheckOneRoundTrip(t *testing.T) {
	srv := startServer(t)
	c := redis.NewClient(&redis.Options{Addr: srv.addr})
	t.Cleanup(func() { _ = c.Close() })
	hook := &roundTrips{}
	c.AddHook(hook)
	ctx := context.Background()
	s := newStore(t, c, haltredis.WithCallerClock())
	clock := halttest.NewClock(halttest.Base)
	tel := &penaltyKinds{}
	l := penaltyLimiter(t, s, clock, tel)
	req := &halttest.FakeRequest{Peer: "203.0.113.61:4242"}
	if _, err := l.Check(ctx, req); err != nil { // loads the script
		t.Fatal(err)
	}
	resetStats(t, c)
	before := hook.n.Load()
	var got []string
	check := func() halt.Decision {
		t.Helper()
		d, err := l.Check(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.Reason.String()+"/"+strconv.FormatInt(d.Limit, 10))
		return d
	}
	for range 9 {
		check()
	}
	check() // 11th: the first violation
	check() // 12th: the second, which starts the penalty
	if d := check(); d.Allowed || d.Limit != 5 {
		t.Fatalf("the check after the penalty started: %+v, want a rejection at the limit of 5", d)
	}
	clock.Advance(time.Hour) // a new window, still penalized: 5 of 5
	for range 6 {
		check()
	}
	checks := len(got)
	trips := hook.n.Load() - before
	calls := commandCalls(t, c)
	if trips != int64(checks) || calls["evalsha"] != checks || calls["eval"] != 0 {
		t.Fatalf("%d checks: %d round trips, commands %v; want one round trip and one EVALSHA each", checks, trips, calls)
	}
	want := "allowed/10 allowed/10 allowed/10 allowed/10 allowed/10 allowed/10 allowed/10 allowed/10 allowed/10 " +
		"limited/10 limited/10 limited/5 allowed/5 allowed/5 allowed/5 allowed/5 allowed/5 limited/5"
	if strings.Join(got, " ") != want {
		t.Fatalf("decisions\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if len(tel.kinds) != 1 || tel.kinds[0] != halt.NoticePenaltyStart {
		t.Fatalf("notices %v, want one penalty_start", tel.kinds)
	}
	// A ban rejects in the call that reads it, still one round trip.
	if _, err := l.Ban(ctx, req, time.Hour); err != nil {
		t.Fatal(err)
	}
	resetStats(t, c)
	before = hook.n.Load()
	d := check()
	if d.Allowed || d.Reason != halt.ReasonBanned || d.RetryAfter != time.Hour {
		t.Fatalf("banned: %+v", d)
	}
	if trips, calls := hook.n.Load()-before, commandCalls(t, c); trips != 1 || calls["evalsha"] != 1 {
		t.Fatalf("a banned check: %d round trips, commands %v; want 1 and one EVALSHA", trips, calls)
	}
	t.Logf("%d penalized checks: %d round trips, %d EVALSHA, inside them %v", checks, trips, calls["evalsha"], calls)
}

// TestPenalizedCheckCluster: the same limiter on a Redis Cluster decides
// in one slot (no CROSSSLOT): the penalty starts with the second
// violation and the next check is at the reduced limit.
func TestPenalizedCheckCluster(t *testing.T) {
	c := cluster(t)
	s := newStore(t, c, haltredis.WithCallerClock(), haltredis.WithTimeout(suiteTimeout), haltredis.WithPrefix(freshPrefix("pencluster")))
	clock := halttest.NewClock(halttest.Base)
	l := penaltyLimiter(t, s, clock, halt.NopTelemetry{})
	req := &halttest.FakeRequest{Peer: "203.0.113.62:4242"}
	admitted := 0
	for range 12 {
		d, err := l.Check(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			admitted++
		}
	}
	p, err := l.Penalty(context.Background(), req)
	if err != nil || admitted != 10 || !p.Active || p.Multiplier != 0.5 {
		t.Fatalf("admitted %d, penalty %+v %v; want 10 and a penalty", admitted, p, err)
	}
	clock.Advance(time.Hour)
	admitted = 0
	for range 8 {
		d, err := l.Check(context.Background(), req)
		if err != nil || d.Limit != 5 {
			t.Fatalf("penalized check: %+v %v", d, err)
		}
		if d.Allowed {
			admitted++
		}
	}
	if admitted != 5 {
		t.Fatalf("penalized hour: admitted %d, want 5", admitted)
	}
}

// TestTakePenalizedScript: the script assembles (TakeAllQuotas's script
// still ends where TakePenalized wraps it), and after SCRIPT FLUSH a
// penalized check loads it again and counts once.
func TestTakePenalizedScript(t *testing.T) {
	if haltredis.TakePenalizedErr != nil || !strings.Contains(haltredis.TakePenalizedSource, "HMGET") {
		t.Fatalf("assembly: %v", haltredis.TakePenalizedErr)
	}
	c := standalone(t)
	s := newStore(t, c, haltredis.WithCallerClock(), haltredis.WithTimeout(suiteTimeout), haltredis.WithPrefix(freshPrefix("penflush")))
	ctx := context.Background()
	pt := halttest.PenaltyTake("ip:198.51.100.40", true, halttest.Base, 1)
	if err := s.TakePenalized(ctx, pt); err != nil || !pt.Out[0].Allowed {
		t.Fatalf("first: %+v %v", pt, err)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	pt = halttest.PenaltyTake("ip:198.51.100.40", true, halttest.Base, 1)
	if err := s.TakePenalized(ctx, pt); err != nil || !pt.Out[0].Allowed || pt.Out[0].Remaining != 18 || pt.QuotaOut[0].Used != 2 {
		t.Fatalf("after SCRIPT FLUSH: %+v %v; want the second admission, counted once", pt, err)
	}
}

// TestTakePenalizedOneSlot: keys that do not share the penalty key's hash
// tag are refused before any round trip.
func TestTakePenalizedOneSlot(t *testing.T) {
	c := standalone(t)
	s := newStore(t, c, haltredis.WithCallerClock(), haltredis.WithPrefix(freshPrefix("penslot")))
	pt := halttest.PenaltyTake("ip:198.51.100.41", false, halttest.Base, 1)
	pt.PenaltyKey = []byte("halt:penalty:{ip:198.51.100.42}")
	if err := s.TakePenalized(context.Background(), pt); err == nil || !strings.Contains(err.Error(), "hash tag") {
		t.Fatalf("another client's penalty key: %v, want a hash tag error", err)
	}
	pt = halttest.PenaltyTake("ip:198.51.100.41", false, halttest.Base, 1)
	pt.Reduced[0].Algorithm = halt.TokenBucket
	if err := s.TakePenalized(context.Background(), pt); err == nil || !strings.Contains(err.Error(), "keep the algorithm") {
		t.Fatalf("a reduced policy on another key: %v", err)
	}
}

const penaltyChildEnv = "HALT_REDIS_TEST_PENALTY_CHILD" // "standalone|cluster,name,startUnixNano,hour"

// TestMultiProcessPenalty: 4 OS processes, each with its own store and 64
// goroutines, check one client (a fixed window of 20 per hour, a monthly
// quota, penalties at threshold 3, half the limits) once each, on one
// server and on the Cluster: together they admit exactly 20, the third
// refusal starts the one penalty and every later refusal is on the score
// (233); an hour later, still penalized, exactly the reduced 10.
func TestMultiProcessPenalty(t *testing.T) {
	clients := map[string]func(testing.TB) redis.UniversalClient{
		"standalone": func(t testing.TB) redis.UniversalClient { return standalone(t) },
		"cluster":    func(t testing.TB) redis.UniversalClient { return cluster(t) },
	}
	for _, mode := range []string{"standalone", "cluster"} {
		t.Run(mode, func(t *testing.T) {
			c := clients[mode](t)
			name := fmt.Sprintf("mppenalty-%s-%d", mode, time.Now().UnixNano())
			client := "ip:" + name
			s := newStore(t, c, haltredis.WithCallerClock(), haltredis.WithTimeout(suiteTimeout), haltredis.WithPrefix(runPrefixFor(name)))
			us := func(d time.Duration) int64 { return halttest.Base.Add(d).UnixMicro() }
			for hour, want := range []struct {
				admitted int
				st       halt.PenaltyState
			}{
				{20, halt.PenaltyState{Score: 233, Stamp: us(0), Until: us(2 * time.Hour), Strike: 1, Last: us(0)}},
				{10, halt.PenaltyState{Score: 233 + 246, Stamp: us(time.Hour), Until: us(2 * time.Hour), Strike: 1, Last: us(0)}},
			} {
				start := time.Now().Add(300 * time.Millisecond).UnixNano()
				counts, total := runChildren(t, "TestMultiProcessPenaltyChild",
					fmt.Sprintf("%s=%s,%s,%d,%d", penaltyChildEnv, mode, name, start, hour))
				t.Logf("hour %d: %d processes x %d goroutines: admitted %v = %d", hour, processes, perProcess, counts, total)
				at := halttest.Base.Add(time.Duration(hour) * time.Hour)
				pt := halttest.PenaltyTake(client, true, at, 1)
				op := halt.PenaltyOp{Kind: halt.PenaltyRead, Config: pt.Config, Now: at}
				st, _, _, err := s.Penalty(context.Background(), pt.PenaltyKey, &op)
				if total != want.admitted || err != nil || st != want.st {
					t.Fatalf("hour %d: admitted %d, penalty %+v %v; want %d and %+v", hour, total, st, err, want.admitted, want.st)
				}
			}
		})
	}
}

// TestMultiProcessPenaltyChild is the body of one child process of
// TestMultiProcessPenalty.
func TestMultiProcessPenaltyChild(t *testing.T) {
	spec := os.Getenv(penaltyChildEnv)
	if spec == "" {
		t.Skip("runs as a child of TestMultiProcessPenalty")
	}
	s, f := childStore(t, spec)
	hour, _ := strconv.Atoi(f[3])
	got := halttest.RunPenalizedTakes(t, s, "ip:"+f[1], true, halttest.Base.Add(time.Duration(hour)*time.Hour), perProcess, 1)
	fmt.Printf("ADMITTED %d\n", got.Admitted)
}

// multiCall hides TakePenalized: the limiter takes the multi-call path.
type multiCall struct{ s *haltredis.Store }

func (m multiCall) Take(ctx context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) (halt.Result, error) {
	return m.s.Take(ctx, key, p, now, cost)
}

func (m multiCall) Peek(ctx context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) (halt.Result, error) {
	return m.s.Peek(ctx, key, p, now, cost)
}

func (m multiCall) Refund(ctx context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) error {
	return m.s.Refund(ctx, key, p, now, cost)
}

func (m multiCall) Penalty(ctx context.Context, key []byte, op *halt.PenaltyOp) (halt.PenaltyState, int64, bool, error) {
	return m.s.Penalty(ctx, key, op)
}

func (m multiCall) Quota(ctx context.Context, key []byte, op *halt.QuotaOp) (halt.QuotaResult, error) {
	return m.s.Quota(ctx, key, op)
}

func (m multiCall) TakeAllQuotas(ctx context.Context, keys [][]byte, ps []*halt.Policy, now time.Time, cost int64,
	out []halt.Result, qkeys [][]byte, qops []halt.QuotaOp, qout []halt.QuotaResult) error {
	return m.s.TakeAllQuotas(ctx, keys, ps, now, cost, out, qkeys, qops, qout)
}

// TestPenalizedCheckMultiCallRoundTrips measures the path a store without
// halt.PenaltyTaker takes, for comparison with
// TestPenalizedCheckOneRoundTrip: with the same limiter every check costs
// two round trips (the penalty read, then the decision) and a refusal one
// more (the violation).
func TestPenalizedCheckMultiCallRoundTrips(t *testing.T) {
	srv := startServer(t)
	c := redis.NewClient(&redis.Options{Addr: srv.addr})
	t.Cleanup(func() { _ = c.Close() })
	hook := &roundTrips{}
	c.AddHook(hook)
	ctx := context.Background()
	clock := halttest.NewClock(halttest.Base)
	l := penaltyLimiter(t, multiCall{newStore(t, c, haltredis.WithCallerClock())}, clock, halt.NopTelemetry{})
	req := &halttest.FakeRequest{Peer: "203.0.113.63:4242"}
	for range 2 { // loads the scripts
		if _, err := l.Check(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	before := hook.n.Load()
	checks, admitted, refused := 0, 0, 0
	for i := range 17 {
		if i == 11 {
			clock.Advance(time.Hour)
		}
		d, err := l.Check(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		checks++
		if d.Allowed {
			admitted++
		} else {
			refused++
		}
	}
	trips := hook.n.Load() - before
	if want := int64(2*checks + refused); trips != want {
		t.Fatalf("%d checks (%d refused): %d round trips, want %d", checks, refused, trips, want)
	}
	t.Logf("multi-call path: %d checks (%d admitted, %d refused): %d round trips", checks, admitted, refused, trips)
}
