package redispeers

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	ulredis "github.com/ulule/limiter/v3/drivers/store/redis"

	halt "github.com/halt-go/halt/core"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// Every decision is admitted (the limits are far above the load), over
// 1024 keys, so each one is a real round trip for every library: this
// measures the decision path, not the over-limit cache.

const keys = 1024

var keyNames = func() []string {
	k := make([]string, keys)
	for i := range k {
		k[i] = "203.0.113." + strconv.Itoa(i%250) + "-" + strconv.Itoa(i)
	}
	return k
}()

func addr() string {
	if a := os.Getenv("HALT_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6390"
}

// client returns a client of the benchmark server. haltredis's gets
// ContextTimeoutEnabled, as its README recommends: the store can then decide
// on the caller's goroutine when idle and still bound each request.
func client(b *testing.B, ctxTimeouts bool) *redis.Client {
	b.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr(), PoolSize: 128, ContextTimeoutEnabled: ctxTimeouts})
	if err := c.Ping(context.Background()).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatalf("redis at %s unreachable: %v", addr(), err)
		}
		b.Skipf("SKIPPING: redis at %s unreachable (%v): run `make bench` or scripts/redis.sh start", addr(), err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// decider is one library's "decide one request for key".
type decider func(ctx context.Context, key string) (bool, error)

// run measures fn at the given number of concurrent callers.
func run(b *testing.B, callers int, fn decider) {
	ctx := context.Background()
	var i atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	if callers == 1 {
		// Each decision's latency, for percentiles (one caller: the
		// latency is the whole story).
		lat := make([]time.Duration, b.N)
		b.ResetTimer()
		for n := 0; n < b.N; n++ {
			t0 := time.Now()
			if ok, err := fn(ctx, keyNames[n%keys]); err != nil || !ok {
				b.Fatalf("decision %d: allowed=%v err=%v", n, ok, err)
			}
			lat[n] = time.Since(t0)
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	} else {
		b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				n := i.Add(1)
				if ok, err := fn(ctx, keyNames[n%keys]); err != nil || !ok {
					b.Errorf("decision %d: allowed=%v err=%v", n, ok, err)
					return
				}
			}
		})
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

func haltDecider(b *testing.B, c redis.UniversalClient, opts ...haltredis.Option) decider {
	s, err := haltredis.New(c, append([]haltredis.Option{haltredis.WithPrefix("bench:halt:"), haltredis.WithTimeout(5 * time.Second)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	p := halt.Policy{Name: "bench", Limit: 1 << 40, Window: time.Hour}
	keyBufs := make([][]byte, keys)
	for i, k := range keyNames {
		keyBufs[i] = []byte("halt:bench:{ip:" + k + "}")
	}
	idx := make(map[string]int, keys)
	for i, k := range keyNames {
		idx[k] = i
	}
	return func(ctx context.Context, key string) (bool, error) {
		r, err := s.Take(ctx, keyBufs[idx[key]], &p, time.Now(), 1)
		return r.Allowed, err
	}
}

// rawDecider runs haltredis's decision script through go-redis directly,
// as the store sends it (EVALSHA, Redis TIME, the same key and arguments),
// with none of the store around it: what the client and Redis alone cost.
func rawDecider(c *redis.Client) decider {
	script := redis.NewScript(haltredis.ScriptSource())
	keyStr := make(map[string]string, keys)
	for _, k := range keyNames {
		keyStr[k] = "bench:raw:halt:bench:{ip:" + k + "}"
	}
	return func(ctx context.Context, key string) (bool, error) {
		// now (0: Redis TIME), cost, token bucket, capacity 2^40, rate
		// 2^40 per hour, no cooldown, no wait.
		v, err := script.Run(ctx, c, []string{keyStr[key]}, 0, 1, "0", int64(1)<<40, "305419896.88888889", 0, 0).Text()
		return err == nil && strings.HasPrefix(v, "1 "), err
	}
}

func redisRateDecider(c *redis.Client) decider {
	l := redis_rate.NewLimiter(c)
	lim := redis_rate.Limit{Rate: 1 << 30, Period: time.Hour, Burst: 1 << 30}
	return func(ctx context.Context, key string) (bool, error) {
		r, err := l.Allow(ctx, "bench:rr:"+key, lim)
		if err != nil {
			return false, err
		}
		return r.Allowed > 0, nil
	}
}

func ululeDecider(b *testing.B, c *redis.Client) decider {
	store, err := ulredis.NewStoreWithOptions(c, limiter.StoreOptions{Prefix: "bench:ulule", MaxRetry: 3})
	if err != nil {
		b.Fatal(err)
	}
	l := limiter.New(store, limiter.Rate{Period: time.Hour, Limit: 1 << 40})
	return func(ctx context.Context, key string) (bool, error) {
		r, err := l.Get(ctx, key)
		if err != nil {
			return false, err
		}
		return !r.Reached, nil
	}
}

// BenchmarkRedisPeers runs every library at 1, 16 and 64 concurrent
// callers, interleaved, in one run against one server.
func BenchmarkRedisPeers(b *testing.B) {
	libs := []struct {
		name string
		fn   decider
	}{
		{"haltredis", haltDecider(b, client(b, true))},
		// The app's clock instead of Redis TIME, as ulule and redis_rate
		// decide: the like-for-like row for the script's own cost.
		{"haltredis_appclock", haltDecider(b, client(b, true), haltredis.WithCallerClock())},
		{"redis_rate", redisRateDecider(client(b, false))},
		{"ulule", ululeDecider(b, client(b, false))},
		{"goredis_evalsha", rawDecider(client(b, true))},
	}
	for _, callers := range []int{1, 16, 64} {
		for _, lib := range libs {
			b.Run(fmt.Sprintf("callers=%d/%s", callers, lib.name), func(b *testing.B) {
				run(b, callers, lib.fn)
			})
		}
	}
}
