package haltredis_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// One Redis server shared by every app instance. (This example and the
// next one need a Redis server, so they have no output to check: go test
// compiles them and runs ExampleNew_fallback. The package's tests run
// against a real redis-server and Redis Cluster.)
func ExampleNew() {
	client := redis.NewClient(&redis.Options{
		Addr: "localhost:6379",
		// Recommended: the client's I/O ends at the store's deadline, so a
		// hung Redis does not hold connections for seconds.
		ContextTimeoutEnabled: true,
	})
	store, err := haltredis.New(client, haltredis.WithTimeout(200*time.Millisecond)) // the default
	if err != nil {
		log.Fatal(err)
	}
	limiter, err := halt.New(store, halt.Policy{Name: "api", Limit: 100, Window: time.Minute},
		halt.WithFailureMode(halt.FailOpen))
	if err != nil {
		_ = store.Close()
		log.Fatal(err)
	}
	defer store.Close()
	_ = limiter // use it with an adapter: halthttp.Middleware(limiter), …
}

// A Redis Cluster: the limiter's keys carry a hash tag around the client,
// so every policy of one client lives in one slot.
func ExampleNew_cluster() {
	client := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"},
		ContextTimeoutEnabled: true,
	})
	store, err := haltredis.New(client, haltredis.WithPrefix("myapp:"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
}

// While Redis is unreachable, each instance limits on its own in memory:
// the limiter's fallback store decides whatever the store cannot. Here
// nothing listens at the address, as when Redis is down: every decision
// comes from the local memory store (and Check says the store failed)
// until Redis answers again.
func ExampleNew_fallback() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true, MaxRetries: -1})
	defer client.Close()
	store, err := haltredis.New(client, haltredis.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	defer store.Close()
	local := memory.New(nil)
	defer local.Close()
	limiter, err := halt.New(store, halt.Policy{Name: "api", Limit: 2, Window: time.Minute},
		halt.WithFallback(local), halt.WithTelemetry(halt.NopTelemetry{}),
		halt.WithClock(halttest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))) // for a stable output
	if err != nil {
		panic(err)
	}
	client1 := &halttest.FakeRequest{Peer: "203.0.113.7:51234"}
	for range 3 {
		d, err := limiter.Check(context.Background(), client1)
		fmt.Printf("allowed=%v remaining=%d store failed=%v\n", d.Allowed, d.Remaining, errors.Is(err, halt.ErrStoreUnavailable))
	}
	// Output:
	// allowed=true remaining=1 store failed=true
	// allowed=true remaining=0 store failed=true
	// allowed=false remaining=0 store failed=true

}
