package haltredis_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// TestLatencyUnderLoad measures decision latency on a healthy Redis while
// the app is starved: HALT_LOAD_CALLERS unpaced callers (default 784) on
// rotating keys plus a hot one, with a timeout so long nothing fails. It
// only runs with HALT_LOAD=1 (it takes seconds and the whole machine); it
// prints the percentiles that WithTimeout's default is chosen from.
func TestLatencyUnderLoad(t *testing.T) {
	if os.Getenv("HALT_LOAD") != "1" {
		t.Skip("set HALT_LOAD=1 to measure")
	}
	standalone(t)
	callers := 784
	if v, err := strconv.Atoi(os.Getenv("HALT_LOAD_CALLERS")); err == nil {
		callers = v
	}
	c := redis.NewClient(&redis.Options{Addr: standaloneAddr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	s := newStore(t, c, haltredis.WithTimeout(10*time.Second), haltredis.WithPrefix(freshPrefix("load")))
	p := halt.Policy{Name: "load", Limit: 100, Window: time.Second}
	var stop atomic.Bool
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for n := 0; !stop.Load(); n++ {
				key := []byte(fmt.Sprintf("halt:load:{ip:10.%d.%d.%d}", i%256, n%256, n/256%256))
				if i%49 == 0 {
					key = []byte("halt:load:{ip:hot}")
				}
				t0 := time.Now()
				if _, err := s.Take(context.Background(), key, &p, time.Now(), 1); err != nil {
					t.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	time.Sleep(3 * time.Second) // the measurement's length
	stop.Store(true)
	wg.Wait()
	slices.Sort(all)
	q := func(f float64) time.Duration { return all[int(f*float64(len(all)-1))] }
	t.Logf("%d callers, %d decisions in 3s: p50 %v p90 %v p99 %v p99.9 %v max %v", callers, len(all),
		q(0.5), q(0.9), q(0.99), q(0.999), all[len(all)-1])
}
