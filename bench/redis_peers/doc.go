// Package redispeers benchmarks Halt's Redis store against the peer Redis
// rate limiters, in one run, on one server: go-redis/redis_rate v10 (GCRA in
// Lua) and ulule/limiter v3's Redis store (fixed window, go-redis v9). See
// run.sh and ../../stores/redis/README.md for the numbers.
//
// It is its own module (bench/redis_peers) so that the peers' dependencies
// stay out of every other module.
package redispeers
