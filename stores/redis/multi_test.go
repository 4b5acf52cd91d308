package haltredis_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// roundTrips counts what a client sends: one per command sent alone, one
// per pipeline.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// commandCalls reads every cmdstat_<name>:calls of INFO commandstats
// (scripts' own redis.call commands included), leaving out INFO and CONFIG.
func commandCalls(t *testing.T, c *redis.Client) map[string]int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, f := range regexp.MustCompile(`cmdstat_([a-z|]+):calls=(\d+)`).FindAllStringSubmatch(info, -1) {
		if f[1] == "info" || strings.HasPrefix(f[1], "config") {
			continue
		}
		m[f[1]], _ = strconv.Atoi(f[2])
	}
	return m
}

func resetStats(t *testing.T, c *redis.Client) {
	t.Helper()
	if err := c.ConfigResetStat(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

// twoPolicies is a token bucket of 3 per hour and a fixed window of 5 per
// hour, and their keys for one client.
func twoPolicies(name string) ([]*halt.Policy, [][]byte) {
	ps := []*halt.Policy{
		{Name: name + "-tb", Limit: 3, Window: time.Hour},
		{Name: name + "-fw", Limit: 5, Window: time.Hour, Algorithm: halt.FixedWindow},
	}
	return ps, [][]byte{[]byte("halt:" + ps[0].Name + ":{ip:203.0.113.20}"), []byte("halt:" + ps[1].Name + ":{ip:203.0.113.20}")}
}

// TestTakeAllCommandStats: a TakeAll of two policies is one round trip and
// one EVALSHA, inside which one MGET reads both keys and, for an admission,
// two SETs write them; a rejection writes nothing. The over-limit cache
// does not answer TakeAll (every call is a script), but the rejecting key
// is cached for Take, and dropped again when a TakeAll admits.
func TestTakeAllCommandStats(t *testing.T) {
	srv := startServer(t) // a server of its own: nobody else's commands count
	hook := &roundTrips{}
	for _, inline := range []bool{false, true} {
		t.Run(fmt.Sprintf("ContextTimeoutEnabled=%v", inline), func(t *testing.T) {
			c := redis.NewClient(&redis.Options{Addr: srv.addr, ContextTimeoutEnabled: inline})
			t.Cleanup(func() { _ = c.Close() })
			c.AddHook(hook)
			ctx := context.Background()
			s := newStore(t, c, haltredis.WithCallerClock())
			ps, keys := twoPolicies(fmt.Sprintf("stats%v", inline))
			out := make([]halt.Result, 2)
			// Warm up on another client's keys: the script is in Redis's cache.
			_, warm := twoPolicies(fmt.Sprintf("warm%v", inline))
			if err := s.TakeAll(ctx, warm, ps, halttest.Base, 1, out); err != nil {
				t.Fatal(err)
			}
			takeAll := func(wantAllowed bool) (trips int64, calls map[string]int) {
				t.Helper()
				resetStats(t, c)
				before := hook.n.Load()
				if err := s.TakeAll(ctx, keys, ps, halttest.Base, 1, out); err != nil {
					t.Fatal(err)
				}
				trips = hook.n.Load() - before
				if out[0].Allowed != wantAllowed || out[1].Allowed != true {
					t.Fatalf("TakeAll: %+v, want the token bucket allowed=%v and the fixed window allowed", out, wantAllowed)
				}
				return trips, commandCalls(t, c)
			}
			for i := range 3 {
				trips, calls := takeAll(true)
				want := map[string]int{"evalsha": 1, "mget": 1, "set": 2}
				if trips != 1 || fmt.Sprint(calls) != fmt.Sprint(want) {
					t.Fatalf("admission %d: %d round trips, commands %v; want 1 and %v", i, trips, calls, want)
				}
				if s.CacheLen() != 0 {
					t.Fatalf("admission %d: %d keys cached", i, s.CacheLen())
				}
			}
			for i := range 3 {
				trips, calls := takeAll(false)
				want := map[string]int{"evalsha": 1, "mget": 1}
				if trips != 1 || fmt.Sprint(calls) != fmt.Sprint(want) {
					t.Fatalf("rejection %d: %d round trips, commands %v; want 1 and %v", i, trips, calls, want)
				}
				// The fixed window was not charged: its standing, 2 left.
				if out[1] != (halt.Result{Allowed: true, Remaining: 2, ResetAfter: time.Hour}) {
					t.Fatalf("rejection %d: the fixed window's answer %+v, want its standing", i, out[1])
				}
				if s.CacheLen() != 1 {
					t.Fatalf("rejection %d: %d keys cached, want the token bucket's", i, s.CacheLen())
				}
			}
			// A Take of the rejecting key is answered from the cache.
			resetStats(t, c)
			if r, err := s.Take(ctx, keys[0], ps[0], halttest.Base, 1); err != nil || r.Allowed {
				t.Fatalf("Take of the rejected key: %+v, %v", r, err)
			}
			if calls := commandCalls(t, c); len(calls) != 0 {
				t.Fatalf("Take of a cached key sent %v", calls)
			}
			// Once the bucket refilled, an admission drops it from the cache.
			if err := s.TakeAll(ctx, keys, ps, halttest.Base.Add(20*time.Minute), 1, out); err != nil || !out[0].Allowed {
				t.Fatalf("TakeAll after a refill: %+v, %v", out, err)
			}
			if s.CacheLen() != 0 {
				t.Fatalf("after an admission: %d keys cached, want none", s.CacheLen())
			}
			t.Logf("a two-policy TakeAll: 1 round trip, 1 EVALSHA (1 MGET, 2 SET inside when admitted, none when rejected)")
		})
	}
}

// TestLimiterTwoPoliciesOneRoundTrip: a limiter with two policies
// (halt.WithPolicies) on Redis decides each request in one round trip, one
// EVALSHA, and a rejected request consumes nothing from the other policy.
func TestLimiterTwoPoliciesOneRoundTrip(t *testing.T) {
	srv := startServer(t)
	c := redis.NewClient(&redis.Options{Addr: srv.addr})
	t.Cleanup(func() { _ = c.Close() })
	hook := &roundTrips{}
	c.AddHook(hook)
	ctx := context.Background()
	s := newStore(t, c, haltredis.WithCallerClock())
	clock := halttest.NewClock(halttest.Base)
	l, err := halt.New(s, halt.Policy{Name: "burst", Limit: 2, Window: time.Second},
		halt.WithPolicies(halt.Policy{Name: "hourly", Limit: 20, Window: time.Hour, Algorithm: halt.FixedWindow}),
		halt.WithClock(clock), halt.WithTelemetry(halt.NopTelemetry{}))
	if err != nil {
		t.Fatal(err)
	}
	req := &halttest.FakeRequest{Peer: "203.0.113.21:4242"}
	if _, err := l.Check(ctx, req); err != nil { // loads the script
		t.Fatal(err)
	}
	resetStats(t, c)
	before := hook.n.Load()
	const checks = 6
	admitted := 0
	for range checks {
		d, err := l.Check(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Policies()) != 2 {
			t.Fatalf("decision %+v: %d policies, want 2", d, len(d.Policies()))
		}
		if d.Allowed {
			admitted++
		}
	}
	trips := hook.n.Load() - before
	calls := commandCalls(t, c)
	if admitted != 1 || trips != checks || calls["evalsha"] != checks || calls["eval"] != 0 {
		t.Fatalf("%d checks: %d admitted, %d round trips, commands %v; want 1 admitted, one round trip and one EVALSHA each",
			checks, admitted, trips, calls)
	}
	// 2 admitted in all (the first check and one more): the hourly window
	// has 18 left; the 5 rejections took nothing.
	st, err := l.Standing(ctx, req)
	if err != nil || len(st) != 2 || st[1].Policy != "hourly" || st[1].Remaining != 18 {
		t.Fatalf("standing %+v, %v; want the hourly policy at 18", st, err)
	}
	t.Logf("%d checks of a two-policy limiter: %d round trips, %d EVALSHA", checks, trips, calls["evalsha"])
}

// TestTakeAllKeysOneSlot: keys without a common hash tag are refused
// before any round trip, with an error that says why, on a single server
// as on a Cluster; so are too many keys and mismatched arguments. One key
// is Take's decision.
func TestTakeAllKeysOneSlot(t *testing.T) {
	clients := map[string]func(testing.TB) redis.UniversalClient{
		"Standalone": func(t testing.TB) redis.UniversalClient { return standalone(t) },
		"Cluster":    func(t testing.TB) redis.UniversalClient { return cluster(t) },
	}
	for name, newClient := range clients {
		t.Run(name, func(t *testing.T) {
			c := newClient(t)
			hook := &roundTrips{}
			c.AddHook(hook)
			ctx := context.Background()
			s := newStore(t, c, haltredis.WithCallerClock(), haltredis.WithTimeout(suiteTimeout),
				haltredis.WithPrefix(freshPrefix("slot")))
			ps, _ := twoPolicies("slot")
			out := make([]halt.Result, haltredis.MaxTakeAll+1)
			bad := [][][]byte{
				{[]byte("halt:a:{ip:203.0.113.1}"), []byte("halt:b:{ip:203.0.113.2}")},
				{[]byte("plain-a"), []byte("plain-b")},
				{[]byte("halt:a:{ip:203.0.113.1}"), []byte("halt:b:{}{ip:203.0.113.1}")},
			}
			for _, keys := range bad {
				before := hook.n.Load()
				err := s.TakeAll(ctx, keys, ps, halttest.Base, 1, out)
				if err == nil || !strings.Contains(err.Error(), "hash tag") || !strings.Contains(err.Error(), "slot") {
					t.Fatalf("keys %q: %v, want an error about their hash tags", keys, err)
				}
				if n := hook.n.Load() - before; n != 0 {
					t.Fatalf("keys %q: %d round trips before the error", keys, n)
				}
			}
			// Same tag: one slot, on the Cluster too, whatever else the keys hold.
			_, keys := twoPolicies("slot")
			keys[1] = []byte("route:" + string(keys[1]))
			if err := s.TakeAll(ctx, keys, ps, halttest.Base, 1, out); err != nil || !out[0].Allowed || !out[1].Allowed {
				t.Fatalf("keys with one tag: %+v, %v", out[:2], err)
			}
			// Arguments.
			if err := s.TakeAll(ctx, keys, ps[:1], halttest.Base, 1, out); err == nil {
				t.Fatal("2 keys and 1 policy accepted")
			}
			if err := s.TakeAll(ctx, keys, ps, halttest.Base, 1, out[:1]); err == nil {
				t.Fatal("2 keys and room for 1 result accepted")
			}
			if err := s.TakeAll(ctx, nil, nil, halttest.Base, 1, nil); err != nil {
				t.Fatalf("no keys: %v", err)
			}
			many := make([][]byte, haltredis.MaxTakeAll+1)
			manyPs := make([]*halt.Policy, len(many))
			for i := range many {
				manyPs[i] = &halt.Policy{Name: fmt.Sprintf("many%d", i), Limit: 5, Window: time.Hour, Algorithm: halt.Algorithm(i % 3)}
				many[i] = []byte("halt:" + manyPs[i].Name + ":{ip:203.0.113.3}")
			}
			if err := s.TakeAll(ctx, many, manyPs, halttest.Base, 1, out); err == nil ||
				!strings.Contains(err.Error(), strconv.Itoa(haltredis.MaxTakeAll)) {
				t.Fatalf("%d keys: %v, want an error naming the bound", len(many), err)
			}
			// The bound itself, every algorithm mixed: one script.
			before := hook.n.Load()
			bound := many[:haltredis.MaxTakeAll]
			if err := s.TakeAll(ctx, bound, manyPs[:len(bound)], halttest.Base, 1, out); err != nil {
				t.Fatal(err)
			}
			if n := hook.n.Load() - before; n > 2 { // 2: a first EVALSHA may find no script
				t.Fatalf("%d keys took %d round trips", len(bound), n)
			}
			for i := range bound {
				if out[i] != (halt.Result{Allowed: true, Remaining: 4, ResetAfter: out[i].ResetAfter}) || out[i].ResetAfter <= 0 {
					t.Fatalf("key %d of %d: %+v", i, len(bound), out[i])
				}
			}
			// One key: Take's decision (a token bucket's remaining 2, then 1).
			one := [][]byte{[]byte("halt:" + ps[0].Name + ":{ip:203.0.113.4}")}
			for want := int64(2); want >= 1; want-- {
				if err := s.TakeAll(ctx, one, ps[:1], halttest.Base, 1, out); err != nil || out[0].Remaining != want {
					t.Fatalf("one key: %+v, %v; want %d remaining", out[0], err, want)
				}
			}
		})
	}
}

// TestTakeAllScriptAssembly: TakeAll's script is the decision body with
// its writes deferred: every write of the body went through the one
// rewrite, and the body reads only its own key's arguments.
func TestTakeAllScriptAssembly(t *testing.T) {
	// Two writes per algorithm (admitted, cooldown started) and the token
	// bucket's reservation (Policy.MaxWait).
	if n := strings.Count(haltredis.DecideBody, haltredis.SetCall); n != 7 {
		t.Fatalf("the decision body writes %d times through %q, want 7", n, haltredis.SetCall)
	}
	if n := strings.Count(haltredis.DecideBody, "redis.call("); n != 7 {
		t.Fatalf("the decision body makes %d redis.call, want only its 7 SETs", n)
	}
	if strings.Contains(haltredis.DecideBody, "ARGV[1]") || strings.Contains(haltredis.DecideBody, "KEYS") {
		t.Fatal("the decision body reads ARGV[1] or KEYS: TakeAll's rewrite would miss it")
	}
	if strings.Contains(haltredis.TakeAllSource, haltredis.SetCall) {
		t.Fatal("TakeAll's script writes a key before every key has decided")
	}
	for _, src := range []string{haltredis.ScriptSource(), haltredis.PeekSource} {
		if !strings.Contains(src, haltredis.DecideBody) {
			t.Fatal("Take's or Peek's script does not hold the decision body")
		}
	}
	rewritten := strings.ReplaceAll(strings.ReplaceAll(haltredis.DecideBody, "ARGV[", "ARGV[o + "), haltredis.SetCall, "pend(")
	if !strings.Contains(haltredis.TakeAllSource, rewritten) {
		t.Fatal("TakeAll's script does not hold the decision body, rewritten")
	}
}

// modelTakeAll is core's answer to a TakeAll: Decide on copies, then
// record every decided state if all admitted, and otherwise only the
// rejecting ones' (what their rejection changed), the others answered by
// Peek on their state as it is.
func modelTakeAll(ps []*halt.Policy, sts []halt.State, now, cost int64) []halt.Result {
	out := make([]halt.Result, len(ps))
	next := make([]halt.State, len(ps))
	all := true
	for i, p := range ps {
		next[i] = sts[i].Clone()
		out[i] = p.Decide(&next[i], now, cost)
		all = all && out[i].Allowed
	}
	for i, p := range ps {
		if all || !out[i].Allowed {
			sts[i] = next[i]
		} else {
			out[i] = p.Peek(&sts[i], now, cost)
		}
	}
	return out
}

// TestTakeAllMatchesCore drives TakeAll (and, between its calls, Take, Peek
// and Refund of single keys) and core's model of it with the same random
// policies, instants (sometimes going back) and costs, and requires
// identical answers for every key, field for field, with and without the
// over-limit cache.
func TestTakeAllMatchesCore(t *testing.T) {
	c := standalone(t)
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cached), func(t *testing.T) {
			size := 0
			if cached {
				size = 1000
			}
			s := newStore(t, c, haltredis.WithCallerClock(), haltredis.WithTimeout(suiteTimeout),
				haltredis.WithOverLimitCache(size), haltredis.WithPrefix(freshPrefix("multidiff")))
			seed := uint64(time.Now().UnixNano())
			r := rand.New(rand.NewPCG(seed, 11))
			const sets, steps = 40, 100
			ctx := context.Background()
			for set := range sets {
				n := 2 + r.IntN(3)
				ps := make([]*halt.Policy, n)
				keys := make([][]byte, n)
				sts := make([]halt.State, n)
				minWin, maxCap := time.Duration(1<<62), int64(0)
				for i := range ps {
					p := randomPolicy(r, set*10+i)
					if err := p.Validate(); err != nil {
						t.Fatalf("seed %d: %v", seed, err)
					}
					ps[i] = &p
					keys[i] = []byte(fmt.Sprintf("halt:%s:{k%d}", p.Name, set))
					minWin, maxCap = min(minWin, p.Window), max(maxCap, p.Capacity())
				}
				now := halttest.Base.UnixNano() + r.Int64N(int64(minWin)/1000)*1000
				for step := range steps {
					switch x := r.IntN(10); {
					case x < 4: // same instant
					case x < 8:
						now += r.Int64N(int64(minWin)/4/1000+1) * 1000
					case x < 9:
						now += r.Int64N(2*int64(minWin)/1000+1) * 1000
					default: // a clock that went back
						now -= r.Int64N(int64(minWin)/4/1000+1) * 1000
					}
					at := time.Unix(0, now)
					where := func() string {
						return fmt.Sprintf("seed %d, set %d, step %d at %d", seed, set, step, now)
					}
					switch x := r.IntN(10); {
					case x < 7:
						cost := r.Int64N(maxCap + 2)
						if r.IntN(4) == 0 {
							cost = 0 // each policy's own cost
						}
						want := modelTakeAll(ps, sts, now, cost)
						got := make([]halt.Result, n)
						if err := s.TakeAll(ctx, keys, ps, at, cost, got); err != nil {
							t.Fatal(err)
						}
						for i := range got {
							if got[i] != want[i] {
								t.Fatalf("%s: TakeAll cost %d, policy %d %+v:\n got %+v\nwant %+v\n(all got %+v)",
									where(), cost, i, *ps[i], got[i], want[i], got)
							}
						}
					case x < 8:
						i := r.IntN(n)
						cost := r.Int64N(ps[i].Capacity() + 2)
						want := ps[i].Decide(&sts[i], now, cost)
						if got, err := s.Take(ctx, keys[i], ps[i], at, cost); err != nil || got != want {
							t.Fatalf("%s: Take of policy %d cost %d: %+v, %v; want %+v", where(), i, cost, got, err, want)
						}
					case x < 9:
						i := r.IntN(n)
						cost := r.Int64N(ps[i].Capacity() + 2)
						want := ps[i].Peek(&sts[i], now, cost)
						if got, err := s.Peek(ctx, keys[i], ps[i], at, cost); err != nil || got != want {
							t.Fatalf("%s: Peek of policy %d cost %d: %+v, %v; want %+v", where(), i, cost, got, err, want)
						}
					default:
						i := r.IntN(n)
						cost := r.Int64N(ps[i].Capacity() + 1)
						ps[i].Refund(&sts[i], now, cost)
						if err := s.Refund(ctx, keys[i], ps[i], at, cost); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
		})
	}
}

// TestTakeAllClosed: TakeAll after Close is halt.ErrStoreClosed.
func TestTakeAllClosed(t *testing.T) {
	s, err := haltredis.New(standaloneClientNoPing())
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	ps, keys := twoPolicies("closed")
	if err := s.TakeAll(context.Background(), keys, ps, time.Now(), 1, make([]halt.Result, 2)); !errors.Is(err, halt.ErrStoreClosed) {
		t.Fatalf("TakeAll after Close: %v, want ErrStoreClosed", err)
	}
}
