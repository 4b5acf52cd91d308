package haltredis

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Option configures a Store. Options are applied in order; New returns the
// first error.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	prefix        string
	timeout       time.Duration
	callerClock   bool
	logger        *slog.Logger
	cacheSize     int
	probeInterval time.Duration
	maxBatch      int
	workers       int
}

func defaultConfig() config {
	return config{
		timeout:       200 * time.Millisecond,
		logger:        slog.Default(),
		cacheSize:     10_000,
		probeInterval: 250 * time.Millisecond,
		maxBatch:      128,
		workers:       4,
	}
}

// WithPrefix prepends prefix to every Redis key, to share a database with
// other data. A Redis key is prefix + key + suffix, where key is what the
// limiter passes ("halt:<policy>:{<client>}", or
// "halt:<policy>:<route>:{<client>}" for a per-route policy) and suffix
// names the algorithm's state: none for the token bucket,
// ":fw<window µs>" for the fixed window, ":sw<window µs>.<sub-windows>"
// for the sliding window. For example, with prefix "app:",
// "app:halt:api:{ip:203.0.113.7}:fw60000000".
//
// The limiter's braces are the Redis Cluster hash tag: every policy of one
// client hashes to the same slot. The store adds no braces of its own, so
// a key passed to Take directly without braces is hashed by its whole name.
// The default is no prefix. The prefix must not contain '{' or '}', which
// would change the hash tag.
func WithPrefix(prefix string) Option {
	return optionFunc(func(c *config) error {
		if strings.ContainsAny(prefix, "{}") {
			return fmt.Errorf("haltredis: prefix %q must not contain '{' or '}'", prefix)
		}
		c.prefix = prefix
		return nil
	})
}

// WithTimeout bounds how long one call (Take, TakeAll, Peek, Refund,
// Reset, and the quota and penalty scripts) may wait for Redis, queueing
// included. Past it, the call returns an error wrapping ErrTimeout and the
// limiter's fallback store or failure mode decides that request. One slow
// answer does not switch the store to fast failures: only evidence does (a
// refused or reset connection, an error such as LOADING or CLUSTERDOWN, or
// several timeouts in a row with no answer from Redis between them, the
// last of a call begun after the first: see the README's "Failure
// modes"). The default is 200ms: four times the slowest decision measured
// with four app processes starving two cores (45-50ms), so a loaded but
// healthy setup keeps counting, while a hung Redis costs a request at most
// the timeout, and nothing once it is marked down.
//
// The bound holds for the caller whatever the client's own timeouts; set the
// client's ContextTimeoutEnabled (or low ReadTimeout/WriteTimeout) as well,
// so its connections are not held for seconds by a server that hangs.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("haltredis: timeout must be positive, got %v", d)
		}
		c.timeout = d
		return nil
	})
}

// WithCallerClock makes the script use the now passed to Take (truncated to
// the microsecond) instead of Redis TIME. Use it in tests with an injected
// clock. In production every app server's clock would then have to agree:
// keep the default, the server clock.
func WithCallerClock() Option {
	return optionFunc(func(c *config) error { c.callerClock = true; return nil })
}

// WithLogger sets the logger of the store's notices (the switches to and
// from fast failures, halt.NoticeStoreDown at Warn and halt.NoticeStoreUp
// at Info) for a store no limiter reports them for: a limiter made by
// halt.New receives them through its telemetry (halt.WithTelemetry, by
// default its logger) and the store does not log them again. The default is
// slog.Default(); a nil logger keeps it.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) error {
		if l != nil {
			c.logger = l
		}
		return nil
	})
}

// WithOverLimitCache bounds the local cache of keys known to be blocked: a
// key Redis reported blocked until T is answered locally, without a round
// trip, until T (or until the answer could change). The cache only ever
// answers "blocked", so it never admits more than Redis would. Banned
// clients (halt.WithPenalties) are cached too, for a second at a time: an
// Unban made through this Store takes effect at once, one made through
// another (another process) within that second. The default size is
// 10,000 keys; 0 disables the cache.
func WithOverLimitCache(size int) Option {
	return optionFunc(func(c *config) error {
		if size < 0 {
			return fmt.Errorf("haltredis: over-limit cache size must not be negative, got %d", size)
		}
		c.cacheSize = size
		return nil
	})
}

// WithProbeInterval sets how often the store checks whether an unreachable
// Redis (or Cluster master) is back, after a first check at once. Each
// Cluster master is probed on its own, and only its keys wait for it. The
// default is 250ms.
func WithProbeInterval(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("haltredis: probe interval must be positive, got %v", d)
		}
		c.probeInterval = d
		return nil
	})
}

// WithPipelining tunes how concurrent decisions share round trips: up to
// workers pipelines are in flight at once, each carrying up to maxBatch
// decisions (one EVALSHA each) that were waiting when it was sent. On a
// Cluster each master has workers of its own, so a slow master never holds
// up another's keys. The defaults are 4 workers and 128 decisions.
func WithPipelining(workers, maxBatch int) Option {
	return optionFunc(func(c *config) error {
		if workers < 1 || maxBatch < 1 {
			return errors.New("haltredis: pipelining needs at least one worker and a batch of at least one")
		}
		c.workers, c.maxBatch = workers, maxBatch
		return nil
	})
}
