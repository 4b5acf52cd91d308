package haltredis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// TestServerClock: two stores (two app servers) whose local clocks disagree
// by ten minutes share one exact limit, because the script reads Redis
// TIME. With the caller's clock the fast server starts a new fixed window
// and gets the limit again, which shows the clocks really disagree.
func TestServerClock(t *testing.T) {
	c := standalone(t)
	skew := 10 * time.Minute
	for _, alg := range []halt.Algorithm{halt.TokenBucket, halt.FixedWindow, halt.SlidingWindow} {
		t.Run(alg.String(), func(t *testing.T) {
			// A window far longer than the test: nothing refills meanwhile.
			p := halt.Policy{Name: fmt.Sprintf("srvclock-%d", time.Now().UnixNano()), Limit: 10,
				Window: 1000 * time.Hour, Algorithm: alg}
			a := newStore(t, c, haltredis.WithPrefix(runPrefix))
			b := newStore(t, c, haltredis.WithPrefix(runPrefix))
			key := []byte("halt:" + p.Name + ":{ip:203.0.113.9}")
			base := time.Now()
			admitted := 0
			for i := range 30 {
				s, now := a, base
				if i%2 == 1 {
					s, now = b, base.Add(skew) // b's clock is ten minutes fast
				}
				r, err := s.Take(context.Background(), key, &p, now, 1)
				if err != nil {
					t.Fatal(err)
				}
				if r.Allowed {
					admitted++
				}
			}
			if admitted != 10 {
				t.Fatalf("two stores with skewed clocks admitted %d, want exactly the limit, 10", admitted)
			}
		})
	}
	t.Run("CallerClockDisagrees", func(t *testing.T) {
		p := halt.Policy{Name: fmt.Sprintf("callerclock-%d", time.Now().UnixNano()), Limit: 10,
			Window: time.Minute, Algorithm: halt.FixedWindow}
		a := newStore(t, c, haltredis.WithPrefix(runPrefix), haltredis.WithCallerClock())
		b := newStore(t, c, haltredis.WithPrefix(runPrefix), haltredis.WithCallerClock())
		key := []byte("halt:" + p.Name + ":{ip:203.0.113.9}")
		base := time.Unix(1_800_000_000, 0)
		admitted := 0
		for i := range 30 {
			s, now := a, base
			if i >= 15 {
				s, now = b, base.Add(skew) // b's clock is ten minutes fast: a new window
			}
			r, err := s.Take(context.Background(), key, &p, now, 1)
			if err != nil {
				t.Fatal(err)
			}
			if r.Allowed {
				admitted++
			}
		}
		if admitted != 20 {
			t.Fatalf("caller clocks ten minutes apart admitted %d, want 20 (two windows)", admitted)
		}
	})
}
