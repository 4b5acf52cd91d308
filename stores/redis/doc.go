// Package haltredis is Halt's Redis store: every app instance shares one
// exact limit, on a single Redis, Sentinel or a Redis Cluster.
//
// Each decision is one Lua script, run atomically in Redis, that does
// exactly what core's [halt.Policy.Decide] does (token bucket, fixed
// window, sliding window, cost, cooldown) with the same double-precision
// arithmetic, reading the clock from Redis TIME so that app servers'
// clocks cannot disagree. Concurrent decisions share round trips (one
// pipeline of EVALSHA, one per decision), keys known to be blocked (and
// clients banned by halt.WithPenalties, a second at a time) are answered
// from a small local cache, and a per-call timeout bounds what a down
// Redis costs a request. The store also implements [halt.Peeker],
// [halt.Resetter] and [halt.Refunder] (core's Policy.Peek and Policy.Refund,
// each a script of its own, and a DEL), and [halt.NoticeSource]: its
// store_down and store_up notices reach the limiter's telemetry.
//
// It implements [halt.MultiTaker] too: [Store.TakeAll] decides up to
// [MaxTakeAll] policies of one request in one script, one round trip, all
// or nothing, which is how a limiter with several policies
// ([halt.WithPolicies]) decides on Redis. The script is built from the
// decision script's own Lua body (the algorithms exist once): it decides
// each key on the value it read, writes every key only if all admitted,
// and otherwise writes only what the rejecting policies' rejections write
// and answers the others with their standing, as Peek would. Its keys must
// share one hash tag, so that a Cluster holds them in one slot; the
// limiter's keys of one client always do.
//
// Redis keys are the store's prefix (see [WithPrefix]), the limiter's key
// as it is ("halt:<policy>:{<client>}", whose braces are the Cluster hash
// tag, so all of a client's policies share a slot) and a suffix naming the
// algorithm's state. Values are a version byte (halt.StateVersion) and the
// state's doubles; a value of another layout reads as a key never seen.
//
// While Redis is unreachable every call fails at once with an error
// wrapping [ErrDown]; the limiter then decides with its fallback store
// ([halt.WithFallback], for instance a memory store) or its failure mode.
// See [New] and the README for setup, failure modes and measured numbers.
//
// # Example
//
//	client := redis.NewClient(&redis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true})
//	store, err := haltredis.New(client)
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer store.Close()
//	limiter, err := halt.New(store, halt.Policy{Name: "api", Limit: 100, Window: time.Minute},
//		halt.WithFallback(memory.New(nil))) // optional: limit locally while Redis is down
package haltredis
