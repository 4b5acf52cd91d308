package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"golang.org/x/time/rate"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/stores/memory"
)

// start is where the randomized runs begin.
var start = time.Unix(1_800_000_000, 123_456_789)

// traffic draws instants and costs for one policy: mostly steps around the
// time one token takes, some equal instants, some long idle gaps and, when
// back is set, a few steps back in time.
type traffic struct {
	rng      *rand.Rand
	interval time.Duration // time one request of cost 1 takes to refill
	window   time.Duration
	burst    int64
	back     bool
}

func (g *traffic) next(now time.Time) time.Time {
	switch r := g.rng.IntN(1000); {
	case r < 120:
		return now // equal instants
	case r < 135:
		return now.Add(time.Duration(g.rng.Int64N(int64(2 * g.window)))) // idle
	case r < 145 && g.back:
		return now.Add(-time.Duration(g.rng.Int64N(int64(g.interval)))) // a clock step back
	default:
		scale := []float64{0.05, 0.3, 1, 2.5}[g.rng.IntN(4)]
		return now.Add(time.Duration(g.rng.Float64() * scale * float64(g.interval)))
	}
}

func (g *traffic) cost() int64 {
	switch r := g.rng.IntN(100); {
	case r < 65:
		return 1
	case r < 66:
		return g.burst + 1 // more than can ever be granted
	default:
		return 1 + g.rng.Int64N(g.burst)
	}
}

// TestTokenBucketAgreesWithXTimeRate checks Policy.Decide, and the memory
// store's Take, against golang.org/x/time/rate's AllowN decision for
// decision: more than 100,000 randomized (instant, cost) steps over several
// (limit, window, burst) settings, with equal instants, idle gaps, costs up
// to the burst and beyond, and, in a second pass, clock steps backwards.
func TestTokenBucketAgreesWithXTimeRate(t *testing.T) {
	settings := []struct {
		limit  int64
		window time.Duration
		burst  int64
	}{
		{5, time.Minute, 5},                    // the seed's example
		{100, time.Minute, 120},                // PublicAPI
		{5, time.Minute, 10},                   // AuthEndpoints (without cooldown)
		{10, time.Second, 10},                  // 10/s
		{1, time.Hour, 3},                      // slow refill, burst above limit
		{1000, time.Second, 1000},              // fast
		{7, 13 * time.Second, 11},              // a rate with no short binary expansion
		{3, 100 * time.Millisecond, 3},         // sub-second window
		{1_000_000, 24 * time.Hour, 1_500_000}, // large counts
	}
	const stepsPerRun = 6_000
	store := memory.New(nil)
	defer store.Close()
	total := 0
	for i, c := range settings {
		for _, back := range []bool{false, true} {
			name := fmt.Sprintf("%d-per-%v-burst-%d-back-%v", c.limit, c.window, c.burst, back)
			p := halt.Policy{Name: fmt.Sprintf("agree%d", i), Limit: c.limit, Window: c.window, Burst: c.burst}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			key := []byte("halt:" + name)
			every := rate.Limit(float64(c.limit) / c.window.Seconds())
			lim := rate.NewLimiter(every, int(c.burst))      // against Decide
			limStore := rate.NewLimiter(every, int(c.burst)) // against the store
			var st halt.State
			g := &traffic{rng: rand.New(rand.NewPCG(uint64(i), 7)), interval: c.window / time.Duration(c.limit),
				window: c.window, burst: c.burst, back: back}
			now := start
			allowed := 0
			for step := range stepsPerRun {
				now = g.next(now)
				n := g.cost()
				want := lim.AllowN(now, int(n))
				got := p.Decide(&st, now.UnixNano(), n)
				if got.Allowed != want {
					t.Fatalf("%s step %d at +%v cost %d: Decide allowed=%v (%+v), x/time/rate allowed=%v (tokens %.9f)",
						name, step, now.Sub(start), n, got.Allowed, got, want, lim.TokensAt(now))
				}
				wantStore := limStore.AllowN(now, int(n))
				r, err := store.Take(context.Background(), key, &p, now, n)
				if err != nil {
					t.Fatal(err)
				}
				if r.Allowed != wantStore {
					t.Fatalf("%s step %d at +%v cost %d: memory store allowed=%v (%+v), x/time/rate allowed=%v",
						name, step, now.Sub(start), n, r.Allowed, r, wantStore)
				}
				if want {
					allowed++
				}
				total++
			}
			// The traffic must exercise both outcomes to mean anything.
			if allowed < stepsPerRun/10 || allowed > stepsPerRun*9/10 {
				t.Errorf("%s: %d of %d allowed: traffic too one-sided", name, allowed, stepsPerRun)
			}
		}
	}
	if total < 100_000 {
		t.Fatalf("only %d steps compared, want at least 100,000", total)
	}
	t.Logf("%d steps agreed through Decide and through the memory store", total)
}

// TestFixedWindowNeverExceedsLimit drives random traffic through the memory
// store and checks, against the epoch-aligned windows [kW, (k+1)W), that no
// window ever admits more than Limit and that a request is refused exactly
// when it would not fit.
func TestFixedWindowNeverExceedsLimit(t *testing.T) {
	for i, p := range []halt.Policy{
		{Name: "fw1", Limit: 10, Window: time.Second, Algorithm: halt.FixedWindow},
		{Name: "fw2", Limit: 3, Window: time.Minute, Algorithm: halt.FixedWindow},
		{Name: "fw3", Limit: 100, Window: 250 * time.Millisecond, Algorithm: halt.FixedWindow},
	} {
		store := memory.New(nil)
		g := &traffic{rng: rand.New(rand.NewPCG(uint64(i), 11)), interval: p.Window / time.Duration(p.Limit),
			window: p.Window, burst: p.Limit}
		key := []byte("halt:" + p.Name)
		used := map[int64]int64{} // window index -> admitted cost
		now := start
		for step := range 15_000 {
			now = g.next(now)
			n := g.cost()
			r, err := store.Take(context.Background(), key, &p, now, n)
			if err != nil {
				t.Fatal(err)
			}
			w := now.UnixNano() / int64(p.Window)
			fits := used[w]+n <= p.Limit
			if r.Allowed != fits {
				t.Fatalf("%s step %d: window %d holds %d, cost %d: allowed=%v, want %v (%+v)",
					p.Name, step, w, used[w], n, r.Allowed, fits, r)
			}
			if r.Allowed {
				used[w] += n
			}
			if used[w] > p.Limit {
				t.Fatalf("%s: window %d admitted %d > limit %d", p.Name, w, used[w], p.Limit)
			}
		}
		_ = store.Close()
	}
}

// TestSlidingWindowNeverExceedsLimit checks the sliding window's own
// definition under random traffic: with sub-windows of Window/Precision
// aligned to the epoch, the last Precision sub-windows never hold more than
// Limit, and a request is refused exactly when it would not fit.
func TestSlidingWindowNeverExceedsLimit(t *testing.T) {
	for i, p := range []halt.Policy{
		{Name: "sw1", Limit: 10, Window: time.Second, Algorithm: halt.SlidingWindow},
		{Name: "sw2", Limit: 4, Window: time.Minute, Algorithm: halt.SlidingWindow, Precision: 6},
		{Name: "sw3", Limit: 50, Window: 300 * time.Millisecond, Algorithm: halt.SlidingWindow, Precision: 3},
		{Name: "sw4", Limit: 7, Window: 10 * time.Second, Algorithm: halt.SlidingWindow, Precision: 1},
	} {
		store := memory.New(nil)
		g := &traffic{rng: rand.New(rand.NewPCG(uint64(i), 13)), interval: p.Window / time.Duration(p.Limit),
			window: p.Window, burst: p.Limit}
		key := []byte("halt:" + p.Name)
		prec := int64(p.SubWindows())
		sub := int64(p.Window) / prec
		used := map[int64]int64{} // sub-window index -> admitted cost
		inWindow := func(j int64) int64 {
			var sum int64
			for k := j - prec + 1; k <= j; k++ {
				sum += used[k]
			}
			return sum
		}
		now := start
		for step := range 15_000 {
			now = g.next(now)
			n := g.cost()
			r, err := store.Take(context.Background(), key, &p, now, n)
			if err != nil {
				t.Fatal(err)
			}
			j := now.UnixNano() / sub
			fits := inWindow(j)+n <= p.Limit
			if r.Allowed != fits {
				t.Fatalf("%s step %d: window ending in sub-window %d holds %d, cost %d: allowed=%v, want %v (%+v)",
					p.Name, step, j, inWindow(j), n, r.Allowed, fits, r)
			}
			if r.Allowed {
				used[j] += n
				if s := inWindow(j); s > p.Limit {
					t.Fatalf("%s: the window ending in sub-window %d admitted %d > limit %d", p.Name, j, s, p.Limit)
				}
			}
		}
		_ = store.Close()
	}
}

// TestRemainingAndRetryAfterAreExact checks, at random points of random
// traffic for every algorithm, the two promises a client acts on: after an
// allowed request exactly Remaining more of the same cost pass at the same
// instant; after a refused one the same request passes at now+RetryAfter
// and not before (to the nanosecond for the windows, to the microsecond for
// the token bucket's float arithmetic).
func TestRemainingAndRetryAfterAreExact(t *testing.T) {
	pols := []halt.Policy{
		{Name: "tb", Limit: 5, Window: time.Minute},
		{Name: "tb-burst", Limit: 100, Window: time.Minute, Burst: 120},
		{Name: "tb-odd", Limit: 7, Window: 13 * time.Second, Burst: 11},
		{Name: "fw", Limit: 10, Window: time.Second, Algorithm: halt.FixedWindow},
		{Name: "sw", Limit: 6, Window: 3 * time.Second, Algorithm: halt.SlidingWindow, Precision: 6},
	}
	clone := func(s halt.State) halt.State {
		s.Slots = slices.Clone(s.Slots)
		return s
	}
	for i, p := range pols {
		g := &traffic{rng: rand.New(rand.NewPCG(uint64(i), 17)), interval: p.Window / time.Duration(p.Limit),
			window: p.Window, burst: p.Capacity()}
		var st halt.State
		now := start
		for step := range 4_000 {
			now = g.next(now)
			n := g.cost()
			if n > p.Capacity() {
				n = p.Capacity()
			}
			ns := now.UnixNano()
			r := p.Decide(&st, ns, n)
			if step%4 != 0 {
				continue
			}
			if r.Allowed {
				probe := clone(st)
				for k := int64(0); k < r.Remaining; k++ {
					if !p.Decide(&probe, ns, n).Allowed {
						t.Fatalf("%s step %d: Remaining %d but request %d of cost %d was refused", p.Name, step, r.Remaining, k+1, n)
					}
				}
				if p.Decide(&probe, ns, n).Allowed {
					t.Fatalf("%s step %d: Remaining %d but one more of cost %d passed", p.Name, step, r.Remaining, n)
				}
				continue
			}
			if r.RetryAfter <= 0 {
				t.Fatalf("%s step %d: refused with RetryAfter %v", p.Name, step, r.RetryAfter)
			}
			// The token bucket's float arithmetic (x/time/rate's) truncates
			// durations to the nanosecond, and recomputing the level at
			// now+RetryAfter can land a nanosecond either side: it is exact
			// to the microsecond (headers show whole seconds, rounded up).
			before := time.Nanosecond
			if p.Algorithm == halt.TokenBucket {
				before = time.Microsecond
			}
			early, onTime := clone(st), clone(st)
			if p.Decide(&early, ns+int64(r.RetryAfter-before), n).Allowed {
				t.Fatalf("%s step %d: cost %d passed %v before RetryAfter %v", p.Name, step, n, before, r.RetryAfter)
			}
			after := time.Duration(0)
			if p.Algorithm == halt.TokenBucket {
				after = time.Microsecond
			}
			if !p.Decide(&onTime, ns+int64(r.RetryAfter+after), n).Allowed {
				t.Fatalf("%s step %d: cost %d refused %v after RetryAfter %v", p.Name, step, n, after, r.RetryAfter)
			}
		}
	}
}
