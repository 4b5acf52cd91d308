package haltredis_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// evalshaCalls reads cmdstat_evalsha's calls from INFO commandstats.
func evalshaCalls(t *testing.T, c *redis.Client) int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`cmdstat_evalsha:calls=(\d+)`).FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestCommandStats: INFO commandstats shows one EVALSHA per decision Redis
// made (each admitted one, plus the first refusal), and none for the
// requests the over-limit cache answered; without the cache every request
// is a round trip.
func TestCommandStats(t *testing.T) {
	srv := startServer(t) // a server of its own: nobody else's commands count
	c := redis.NewClient(&redis.Options{Addr: srv.addr})
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	const limit, blocked = 10, 90
	for _, cached := range []bool{true, false} {
		for _, alg := range []halt.Algorithm{halt.TokenBucket, halt.FixedWindow, halt.SlidingWindow} {
			t.Run(fmt.Sprintf("%s/cache=%v", alg, cached), func(t *testing.T) {
				opts := []haltredis.Option{}
				if !cached {
					opts = append(opts, haltredis.WithOverLimitCache(0))
				}
				s := newStore(t, c, opts...)
				p := halt.Policy{Name: fmt.Sprintf("stats-%s-%v", alg, cached), Limit: limit, Window: time.Hour,
					Algorithm: alg, BlockDuration: 0}
				key := []byte("halt:" + p.Name + ":{ip:203.0.113.1}")
				// Warm up on another key: the script is in Redis's cache.
				if _, err := s.Take(ctx, []byte("warmup"), &p, time.Now(), 1); err != nil {
					t.Fatal(err)
				}
				if err := c.ConfigResetStat(ctx).Err(); err != nil {
					t.Fatal(err)
				}
				admitted := 0
				for range limit + blocked {
					r, err := s.Take(ctx, key, &p, time.Now(), 1)
					if err != nil {
						t.Fatal(err)
					}
					if r.Allowed {
						admitted++
					} else if r.RetryAfter <= 0 || r.Reason != halt.ReasonLimited {
						t.Fatalf("blocked answer %+v", r)
					}
				}
				if admitted != limit {
					t.Fatalf("admitted %d, want %d", admitted, limit)
				}
				if n := s.CacheLen(); cached && n != 1 {
					t.Fatalf("over-limit cache holds %d keys, want 1", n)
				}
				got := evalshaCalls(t, c)
				want := limit + 1 // each admission, and the first refusal
				if !cached {
					want = limit + blocked
				}
				if got != want {
					t.Fatalf("EVALSHA calls = %d, want %d", got, want)
				}
				t.Logf("%d decisions (%d admitted): %d EVALSHA", limit+blocked, admitted, got)
			})
		}
	}
}
