package haltredis_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// TestCloseWhileHung: with Redis frozen (SIGSTOP) while decisions are in
// flight on the store's workers and its prober, Close returns within the
// store's timeout plus slack, whatever the client's own timeouts.
func TestCloseWhileHung(t *testing.T) {
	srv := startServer(t)
	for _, tc := range []struct {
		name string
		opt  redis.Options
	}{
		{"defaults", redis.Options{}},
		{"ContextTimeoutEnabled", redis.Options{ContextTimeoutEnabled: true}},
		{"ReadTimeout=10s", redis.Options{ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := tc.opt
			opt.Addr = srv.addr
			c := redis.NewClient(&opt)
			s, err := haltredis.New(c, haltredis.WithTimeout(outageTimeout), haltredis.WithProbeInterval(5*time.Millisecond),
				haltredis.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
			if err != nil {
				t.Fatal(err)
			}
			p := halt.Policy{Name: "closehung", Limit: 1000, Window: time.Hour}
			key := []byte("halt:closehung:{ip:203.0.113.79}")
			ctx := context.Background()
			if _, err := s.Take(ctx, key, &p, time.Now(), 1); err != nil {
				t.Fatal(err)
			}
			if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = srv.cmd.Process.Signal(syscall.SIGCONT) }()
			// Decisions on the workers (several at once) and, once one has
			// timed out, the prober, all stuck on the frozen server.
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _ = s.Take(ctx, key, &p, time.Now(), 1)
				}()
			}
			wg.Wait()
			time.Sleep(20 * time.Millisecond) // let the prober start its ping (not timing logic)
			t0 := time.Now()
			_ = s.Close()
			took := time.Since(t0)
			if took > outageTimeout+slack {
				t.Fatalf("Close took %v with Redis frozen, want at most %v + %v", took, outageTimeout, slack)
			}
			t.Logf("Close took %v", took)
			_ = srv.cmd.Process.Signal(syscall.SIGCONT)
			_ = c.Close()
		})
	}
}
