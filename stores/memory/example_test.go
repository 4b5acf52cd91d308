package memory_test

import (
	"context"
	"fmt"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
)

// A login limit with a cooldown, on the in-process store: 3 attempts a
// minute, then 5 minutes blocked, whatever refills meanwhile.
func Example() {
	store := memory.New(nil) // the defaults: up to 1,000,000 keys, swept every minute
	defer store.Close()
	clock := halttest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	limiter, err := halt.New(store,
		halt.Policy{Name: "login", Limit: 3, Window: time.Minute, BlockDuration: 5 * time.Minute},
		halt.WithClock(clock))
	if err != nil {
		panic(err)
	}
	client := &halttest.FakeRequest{Verb: "POST", URLPath: "/login", Peer: "203.0.113.7:51234"}
	attempt := func(label string) {
		d, err := limiter.Check(context.Background(), client)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%-10s allowed=%-5v retry-after=%v (%s)\n", label, d.Allowed, d.RetryAfter, d.Reason)
	}
	for i := 1; i <= 4; i++ {
		attempt(fmt.Sprintf("attempt %d", i))
	}
	clock.Advance(time.Minute)
	attempt("+1m")
	clock.Advance(4 * time.Minute)
	attempt("+5m")
	// Output:
	// attempt 1  allowed=true  retry-after=0s (allowed)
	// attempt 2  allowed=true  retry-after=0s (allowed)
	// attempt 3  allowed=true  retry-after=0s (allowed)
	// attempt 4  allowed=false retry-after=5m0s (cooldown)
	// +1m        allowed=false retry-after=4m0s (cooldown)
	// +5m        allowed=true  retry-after=0s (allowed)
}

// Every key expires once it is back to full capacity; the background sweep
// (or Sweep, at an instant of your choosing) removes it.
func ExampleStore_Sweep() {
	store := memory.New(&memory.Config{MaxKeys: 10_000})
	defer store.Close()
	clock := halttest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	limiter, err := halt.New(store, halt.Policy{Name: "api", Limit: 60, Window: time.Minute}, halt.WithClock(clock))
	if err != nil {
		panic(err)
	}
	for _, peer := range []string{"203.0.113.7:1", "203.0.113.8:1", "198.51.100.20:1"} {
		if _, err := limiter.Check(context.Background(), &halttest.FakeRequest{Peer: peer}); err != nil {
			panic(err)
		}
	}
	fmt.Println("keys:", store.Len())
	clock.Advance(time.Minute)
	store.Sweep(clock.Now())
	fmt.Println("keys a minute later:", store.Len())
	// Output:
	// keys: 3
	// keys a minute later: 0
}
