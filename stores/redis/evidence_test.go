package haltredis_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// faults is a client hook that delays or fails commands on demand: while
// slow, every command (or pipeline) is delayed by delay; resets are how
// many still fail with a connection reset.
type faults struct {
	slow   atomic.Bool
	delay  time.Duration
	resets atomic.Int64
}

func (f *faults) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *faults) inject() error {
	if f.resets.Add(-1) >= 0 {
		return &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
	if f.slow.Load() {
		time.Sleep(f.delay) // the fault itself: a slow answer
	}
	return nil
}

func (f *faults) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := f.inject(); err != nil {
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (f *faults) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if err := f.inject(); err != nil {
			for _, c := range cmds {
				c.SetErr(err)
			}
			return err
		}
		return next(ctx, cmds)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// faultyStore is a store on the shared server through a client with a
// faults hook, with the outage tests' timeout and an hour between probes
// (only the first, immediate, probe runs in a test).
func faultyStore(t *testing.T, inline bool) (*haltredis.Store, *faults) {
	t.Helper()
	standalone(t)
	c := redis.NewClient(&redis.Options{Addr: standaloneAddr(), ContextTimeoutEnabled: inline})
	t.Cleanup(func() { _ = c.Close() })
	f := &faults{delay: 3 * outageTimeout}
	c.AddHook(f)
	s := newStore(t, c, haltredis.WithTimeout(outageTimeout), haltredis.WithProbeInterval(time.Hour),
		haltredis.WithLogger(quietLogger()), haltredis.WithPrefix(freshPrefix("evidence")))
	return s, f
}

// TestSlowAnswersAreNotOutages: answers slower than the timeout (the app's
// own CPU, a pause), alone or a burst of them at once, fail those calls
// only: the store is not marked down, and the next decisions count in
// Redis exactly.
func TestSlowAnswersAreNotOutages(t *testing.T) {
	for _, inline := range []bool{false, true} {
		for _, callers := range []int{1, 16} {
			t.Run(fmt.Sprintf("ContextTimeoutEnabled=%v/callers=%d", inline, callers), func(t *testing.T) {
				s, f := faultyStore(t, inline)
				p := halt.Policy{Name: "slow", Limit: 5, Window: time.Hour}
				key := []byte("halt:slow:{ip:203.0.113.80}")
				ctx := context.Background()
				f.slow.Store(true)
				var wg sync.WaitGroup
				var timeouts atomic.Int64
				for range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, err := s.Take(ctx, key, &p, time.Now(), 1); errors.Is(err, haltredis.ErrTimeout) {
							timeouts.Add(1)
						}
					}()
				}
				wg.Wait()
				f.slow.Store(false)
				if timeouts.Load() != int64(callers) {
					t.Fatalf("%d of %d calls timed out, want all: the fault was not injected", timeouts.Load(), callers)
				}
				if s.Down() {
					t.Fatalf("%d slow answers marked the store down", callers)
				}
				// Let the delayed commands end (the fault's length, not
				// timing logic), then Redis decides, exactly: what Peek
				// says is left is admitted, and no more.
				time.Sleep(f.delay)
				r, err := s.Peek(ctx, key, &p, time.Now(), 1)
				if err != nil {
					t.Fatalf("after the slow answers: %v, want a decision from Redis", err)
				}
				admitted := int64(0)
				for range r.Remaining + 2 {
					x, err := s.Take(ctx, key, &p, time.Now(), 1)
					if err != nil {
						t.Fatalf("take after the slow answers: %v", err)
					}
					if x.Allowed {
						admitted++
					}
				}
				if admitted != r.Remaining || s.Down() {
					t.Fatalf("admitted %d after the slow answers, want the %d left (down: %v)", admitted, r.Remaining, s.Down())
				}
			})
		}
	}
}

// TestResetProbesAtOnce: a connection reset is evidence: the store is
// marked down and probes at once (not after the probe interval, an hour
// here), so a Redis that is fine is used again within moments.
func TestResetProbesAtOnce(t *testing.T) {
	for _, inline := range []bool{false, true} {
		t.Run(fmt.Sprintf("ContextTimeoutEnabled=%v", inline), func(t *testing.T) {
			s, f := faultyStore(t, inline)
			p := halt.Policy{Name: "reset", Limit: 5, Window: time.Hour}
			key := []byte("halt:reset:{ip:203.0.113.81}")
			ctx := context.Background()
			f.resets.Store(1)
			if _, err := s.Take(ctx, key, &p, time.Now(), 1); !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("take: %v, want the reset", err)
			}
			t0 := time.Now()
			for s.Down() || time.Since(t0) < time.Millisecond {
				if time.Since(t0) > 2*time.Second {
					t.Fatal("still down 2s after a reset: the store did not probe at once")
				}
				time.Sleep(time.Millisecond) // polling for the probe
			}
			r, err := s.Take(ctx, key, &p, time.Now(), 1)
			if err != nil || !r.Allowed || r.Remaining != 4 {
				t.Fatalf("after the probe: %+v, %v; want the first admission", r, err)
			}
		})
	}
}
