// Package haltredis is Halt's Redis store: every app instance shares one
// exact limit, on a single Redis, Sentinel or a Redis Cluster.
//
// Each decision is one Lua script, run atomically in Redis, that does
// exactly what core's [halt.Policy.Decide] does (token bucket, fixed
// window, sliding window, cost, cooldown) with the same double-precision
// arithmetic, reading the clock from Redis TIME so that app servers'
// clocks cannot disagree. Concurrent decisions share round trips (one
// pipeline of EVALSHA, one per decision), keys known to be blocked are
// answered from a small local cache, and a per-call timeout bounds what a
// down Redis costs a request. See [New] and the README for setup, failure
// modes and measured numbers.
//
// # Example
//
//	client := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
//	store, err := haltredis.New(client)
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer store.Close()
//	limiter, err := halt.New(store, halt.Policy{Name: "api", Limit: 100, Window: time.Minute})
package haltredis
