// Package bench holds Halt's cross-checks and benchmarks against peer
// libraries: golang.org/x/time/rate, github.com/sethvargo/go-limiter,
// github.com/ulule/limiter and github.com/throttled/throttled. It is a module
// of its own so that no user of Halt ever downloads a peer. See README.md.
package bench
