package haltredis_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// Every decision is admitted (limits far above the load), over 1024
// clients, so each is a real round trip: these measure the decision path,
// not the over-limit cache.
const benchClients = 1024

// benchStore is a store on the standalone server as the README recommends
// it (ContextTimeoutEnabled), under a prefix of its own.
func benchStore(b *testing.B) *haltredis.Store {
	b.Helper()
	standalone(b)
	c := redis.NewClient(&redis.Options{Addr: standaloneAddr(), PoolSize: 128, ContextTimeoutEnabled: true})
	b.Cleanup(func() { _ = c.Close() })
	return newStore(b, c, haltredis.WithTimeout(5*time.Second), haltredis.WithPrefix(freshPrefix("bench")))
}

// benchCallers runs fn(i) b.N times from callers goroutines.
func benchCallers(b *testing.B, callers int, fn func(i int) error) {
	b.ReportAllocs()
	b.ResetTimer()
	if callers == 1 {
		for i := range b.N {
			if err := fn(i); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		var n atomic.Int64
		b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := fn(int(n.Add(1))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

func benchKeys(name string) [][]byte {
	keys := make([][]byte, benchClients)
	for i := range keys {
		keys[i] = []byte("halt:" + name + ":{ip:203.0.113." + strconv.Itoa(i%250) + "-" + strconv.Itoa(i) + "}")
	}
	return keys
}

// BenchmarkTake: one token bucket decision per call.
func BenchmarkTake(b *testing.B) {
	s := benchStore(b)
	p := halt.Policy{Name: "bench", Limit: 1 << 40, Window: time.Hour}
	keys := benchKeys(p.Name)
	ctx := context.Background()
	for _, callers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			benchCallers(b, callers, func(i int) error {
				r, err := s.Take(ctx, keys[i%benchClients], &p, time.Now(), 1)
				if err == nil && !r.Allowed {
					err = fmt.Errorf("rejected: %+v", r)
				}
				return err
			})
		})
	}
}

// BenchmarkTakeAll: a token bucket and a fixed window of one client
// decided together per call (one script), against the two decided by two
// Takes.
func BenchmarkTakeAll(b *testing.B) {
	s := benchStore(b)
	ps := []*halt.Policy{
		{Name: "bench-tb", Limit: 1 << 40, Window: time.Hour},
		{Name: "bench-fw", Limit: 1 << 40, Window: time.Hour, Algorithm: halt.FixedWindow},
	}
	tb, fw := benchKeys(ps[0].Name), benchKeys(ps[1].Name)
	ctx := context.Background()
	for _, callers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("callers=%d/TakeAll", callers), func(b *testing.B) {
			benchCallers(b, callers, func(i int) error {
				var out [2]halt.Result
				k := i % benchClients
				err := s.TakeAll(ctx, [][]byte{tb[k], fw[k]}, ps, time.Now(), 1, out[:])
				if err == nil && (!out[0].Allowed || !out[1].Allowed) {
					err = fmt.Errorf("rejected: %+v", out)
				}
				return err
			})
		})
		b.Run(fmt.Sprintf("callers=%d/TwoTakes", callers), func(b *testing.B) {
			benchCallers(b, callers, func(i int) error {
				k := i % benchClients
				for j, key := range [][]byte{tb[k], fw[k]} {
					r, err := s.Take(ctx, key, ps[j], time.Now(), 1)
					if err == nil && !r.Allowed {
						err = fmt.Errorf("rejected: %+v", r)
					}
					if err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
}

// BenchmarkBannedCheck is a check of a banned client through a limiter
// with penalties: answered from the over-limit cache (cache=on) or by a
// round trip each (cache=off).
func BenchmarkBannedCheck(b *testing.B) {
	for _, cache := range []struct {
		name string
		size int
	}{{"on", 10_000}, {"off", 0}} {
		b.Run("cache="+cache.name, func(b *testing.B) {
			standalone(b)
			c := redis.NewClient(&redis.Options{Addr: standaloneAddr(), ContextTimeoutEnabled: true})
			b.Cleanup(func() { _ = c.Close() })
			l, err := halt.New(newStore(b, c, haltredis.WithPrefix(freshPrefix("banbench")), haltredis.WithOverLimitCache(cache.size)), halt.Policy{Name: "api", Limit: 100, Window: time.Minute},
				halt.WithPenalties(halt.PenaltyConfig{Threshold: 5, Duration: time.Hour, Multiplier: 0.5}, 1),
				halt.WithTelemetry(halt.NopTelemetry{}))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			req := &halttest.FakeRequest{Peer: "203.0.113.80:4242"}
			if _, err := l.Ban(ctx, req, time.Hour); err != nil {
				b.Fatal(err)
			}
			benchCallers(b, 1, func(int) error {
				d, err := l.Check(ctx, req)
				if err == nil && d.Reason != halt.ReasonBanned {
					err = fmt.Errorf("not banned: %+v", d)
				}
				return err
			})
		})
	}
}
