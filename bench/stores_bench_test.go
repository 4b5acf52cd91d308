package bench

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sethvargo/go-limiter/memorystore"
	"github.com/throttled/throttled/v2"
	"github.com/throttled/throttled/v2/store/memstore"
	ulule "github.com/ulule/limiter/v3"
	ululememory "github.com/ulule/limiter/v3/drivers/store/memory"
	"golang.org/x/time/rate"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/stores/memory"
)

// The decision benchmarks compare one rate-limit decision for a key, the
// way each library is used from a middleware: the library reads the clock
// (Halt's store is handed halt.SystemClock.Now(), as the Limiter does), finds the key's
// state and decides. Limits are high enough that every request is admitted,
// so each library runs its allow path.
//
// keys=1 hammers one hot key; keys=10000 cycles through 10,000 keys that
// all exist. Parallel runs use GOMAXPROCS goroutines (b.RunParallel).

const numKeys = 10_000

// benchKeys are the keys of the keyed benchmarks, shaped as the Limiter
// builds them.
var benchKeys, benchKeyBytes = func() ([]string, [][]byte) {
	s := make([]string, numKeys)
	b := make([][]byte, numKeys)
	for i := range s {
		s[i] = "halt:bench:{ip:10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255) + "}"
		b[i] = []byte(s[i])
	}
	return s, b
}()

const hugeLimit = 1 << 40 // never limiting within a benchmark

// benchPolicy is Halt's policy in the benchmarks: a burst no benchmark can
// use up, refilled at 100 million per second. (A rate where one token
// refills in under two nanoseconds would send every decision through an
// extra exact division that no real policy needs.)
func benchPolicy() *halt.Policy {
	return &halt.Policy{Name: "bench", Limit: 100_000_000, Window: time.Second, Burst: hugeLimit}
}

// taker is one library's keyed decision; it reports whether the request was
// admitted.
type taker func(key int) bool

// library builds a taker over a fresh store.
type library struct {
	name string
	make func(tb testing.TB) taker
}

func keyedLibraries() []library {
	return []library{
		{"halt-memory", func(tb testing.TB) taker {
			s := memory.New(nil)
			tb.Cleanup(func() { _ = s.Close() })
			p := benchPolicy()
			ctx := context.Background()
			return func(i int) bool {
				r, _ := s.Take(ctx, benchKeyBytes[i], p, halt.SystemClock.Now(), 1)
				return r.Allowed
			}
		}},
		{"xtimerate-map", func(testing.TB) taker {
			m := newRateMap(rate.Limit(hugeLimit), hugeLimit)
			return func(i int) bool { return m.allow(benchKeyBytes[i]) }
		}},
		{"golimiter-memory", func(tb testing.TB) taker {
			// go-limiter refills delta_ticks*interval/tokens tokens per tick,
			// so a huge token count would empty the bucket after a second:
			// 60 million tokens over 1,000 hours is never refilled nor used up.
			s, err := memorystore.New(&memorystore.Config{Tokens: 60_000_000, Interval: 1000 * time.Hour})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { _ = s.Close(context.Background()) })
			ctx := context.Background()
			return func(i int) bool {
				_, _, _, ok, _ := s.Take(ctx, benchKeys[i])
				return ok
			}
		}},
		{"ulule-memory", func(testing.TB) taker {
			l := ulule.New(ululememory.NewStore(), ulule.Rate{Period: time.Second, Limit: hugeLimit})
			ctx := context.Background()
			return func(i int) bool {
				c, _ := l.Get(ctx, benchKeys[i])
				return !c.Reached
			}
		}},
		{"throttled-memstore", func(tb testing.TB) taker {
			st, err := memstore.NewCtx(0)
			if err != nil {
				tb.Fatal(err)
			}
			l, err := throttled.NewGCRARateLimiterCtx(st, throttled.RateQuota{MaxRate: throttled.PerSec(1_000_000_000), MaxBurst: 1 << 30})
			if err != nil {
				tb.Fatal(err)
			}
			ctx := context.Background()
			return func(i int) bool {
				limited, _, _ := l.RateLimitCtx(ctx, benchKeys[i], 1)
				return !limited
			}
		}},
	}
}

// rateMap is the usual keyed x/time/rate: a mutex-guarded map of limiters.
type rateMap struct {
	mu    sync.Mutex
	m     map[string]*rate.Limiter
	limit rate.Limit
	burst int
}

func newRateMap(limit rate.Limit, burst int) *rateMap {
	return &rateMap{m: make(map[string]*rate.Limiter), limit: limit, burst: burst}
}

func (m *rateMap) allow(key []byte) bool {
	m.mu.Lock()
	l, ok := m.m[string(key)]
	if !ok {
		l = rate.NewLimiter(m.limit, m.burst)
		m.m[string(key)] = l
	}
	m.mu.Unlock()
	return l.Allow()
}

// BenchmarkAllowOne is the baseline: one x/time/rate limiter, no key.
func BenchmarkAllowOne(b *testing.B) {
	b.Run("impl=xtimerate/mode=serial", func(b *testing.B) {
		l := rate.NewLimiter(rate.Limit(hugeLimit), hugeLimit)
		b.ReportAllocs()
		for b.Loop() {
			if !l.Allow() {
				b.Fatal("refused")
			}
		}
	})
	b.Run("impl=xtimerate/mode=parallel", func(b *testing.B) {
		l := rate.NewLimiter(rate.Limit(hugeLimit), hugeLimit)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Allow()
			}
		})
	})
}

// BenchmarkTake is one keyed decision, serial and parallel, for one hot key
// and for 10,000 keys.
func BenchmarkTake(b *testing.B) {
	for _, keys := range []int{1, numKeys} {
		for _, lib := range keyedLibraries() {
			b.Run("keys="+strconv.Itoa(keys)+"/impl="+lib.name+"/mode=serial", func(b *testing.B) {
				take := lib.make(b)
				for i := range keys {
					take(i)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if !take(i) {
						b.Fatal("refused")
					}
					if i++; i == keys {
						i = 0
					}
				}
			})
			b.Run("keys="+strconv.Itoa(keys)+"/impl="+lib.name+"/mode=parallel", func(b *testing.B) {
				take := lib.make(b)
				for i := range keys {
					take(i)
				}
				var worker atomic.Int64
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := int(worker.Add(7919)) % keys
					for pb.Next() {
						take(i)
						if i++; i == keys {
							i = 0
						}
					}
				})
			})
		}
	}
}
