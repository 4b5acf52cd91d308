package haltredis_test

import (
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
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

// A Redis Cluster: every key of a decision carries a hash tag, so it lives
// in one slot.
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

// While Redis is unreachable, each instance limits on its own in memory.
func ExampleWithMemoryFallback() {
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	store, err := haltredis.New(client, haltredis.WithMemoryFallback(nil))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
}
