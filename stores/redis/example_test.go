package haltredis_test

import (
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/stores/memory"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// One Redis server shared by every app instance.
func ExampleNew() {
	client := redis.NewClient(&redis.Options{
		Addr: "localhost:6379",
		// Fail fast: a hung Redis should not hold connections for seconds.
		ReadTimeout:  100 * time.Millisecond,
		WriteTimeout: 100 * time.Millisecond,
	})
	store, err := haltredis.New(client, haltredis.WithTimeout(50*time.Millisecond))
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
		Addrs: []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"},
	})
	store, err := haltredis.New(client, haltredis.WithPrefix("myapp:"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
}

// While Redis is unreachable, each instance limits on its own in memory:
// the limiter's fallback store decides whatever the store cannot.
func ExampleNew_fallback() {
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true})
	store, err := haltredis.New(client)
	if err != nil {
		log.Fatal(err)
	}
	local := memory.New(nil)
	limiter, err := halt.New(store, halt.Policy{Name: "api", Limit: 100, Window: time.Minute},
		halt.WithFallback(local))
	if err != nil {
		_ = local.Close()
		_ = store.Close()
		log.Fatal(err)
	}
	defer store.Close()
	defer local.Close()
	_ = limiter // use it with an adapter
}
