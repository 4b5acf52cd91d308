package bench

import (
	"context"
	"runtime"
	"strconv"
	"sync"
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

// perKeyKeys is how many keys BenchmarkMemoryPerKey stores.
const perKeyKeys = 1_000_000

// BenchmarkMemoryPerKey stores 1,000,000 keys "ip-0" ... "ip-999999" (one
// request each) in each library's in-memory store and reports the live heap
// it then holds per key (runtime.MemStats.HeapAlloc after a GC, less the
// heap before). A store that keeps its keys pays for the key strings too;
// that is part of its cost. Run with -benchtime=1x: one op inserts the
// million keys.
func BenchmarkMemoryPerKey(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		fill func(b *testing.B) (keep any)
	}{
		{"halt-memory", func(b *testing.B) any {
			s := memory.New(&memory.Config{MaxKeys: 2 * perKeyKeys})
			p := &halt.Policy{Name: "mem", Limit: 100, Window: time.Minute}
			now := time.Now()
			key := append(make([]byte, 0, 32), "ip-"...)
			for i := range perKeyKeys {
				if _, err := s.Take(ctx, strconv.AppendInt(key, int64(i), 10), p, now, 1); err != nil {
					b.Fatal(err)
				}
			}
			if s.Len() != perKeyKeys {
				b.Fatalf("Len() = %d", s.Len())
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		}},
		{"xtimerate-map", func(*testing.B) any {
			m := newRateMap(rate.Limit(100.0/60), 100)
			key := append(make([]byte, 0, 32), "ip-"...)
			for i := range perKeyKeys {
				m.allow(strconv.AppendInt(key, int64(i), 10))
			}
			return m
		}},
		{"golimiter-memory", func(b *testing.B) any {
			s, err := memorystore.New(&memorystore.Config{Tokens: 100, Interval: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			for i := range perKeyKeys {
				_, _, _, _, _ = s.Take(ctx, "ip-"+strconv.Itoa(i))
			}
			b.Cleanup(func() { _ = s.Close(ctx) })
			return s
		}},
		{"ulule-memory", func(*testing.B) any {
			l := ulule.New(ululememory.NewStore(), ulule.Rate{Period: time.Minute, Limit: 100})
			for i := range perKeyKeys {
				_, _ = l.Get(ctx, "ip-"+strconv.Itoa(i))
			}
			return l
		}},
		{"throttled-memstore", func(b *testing.B) any {
			st, err := memstore.NewCtx(0)
			if err != nil {
				b.Fatal(err)
			}
			l, err := throttled.NewGCRARateLimiterCtx(st, throttled.RateQuota{MaxRate: throttled.PerMin(100), MaxBurst: 100})
			if err != nil {
				b.Fatal(err)
			}
			for i := range perKeyKeys {
				_, _, _ = l.RateLimitCtx(ctx, "ip-"+strconv.Itoa(i), 1)
			}
			return l
		}},
	} {
		b.Run("impl="+c.name, func(b *testing.B) {
			var perKey float64
			for range b.N {
				before := liveHeap()
				keep := c.fill(b)
				after := liveHeap()
				runtime.KeepAlive(keep)
				perKey = float64(int64(after)-int64(before)) / perKeyKeys
			}
			b.ReportMetric(perKey, "bytes/key")
		})
	}
}

var gcMu sync.Mutex

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	gcMu.Lock()
	defer gcMu.Unlock()
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
