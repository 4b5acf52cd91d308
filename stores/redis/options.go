package haltredis

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/stores/memory"
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
	fallback      bool
	memCfg        *memory.Config
	telemetry     halt.Telemetry
	logger        *slog.Logger
	cacheSize     int
	probeInterval time.Duration
	maxBatch      int
	workers       int
}

func defaultConfig() config {
	return config{
		timeout:       50 * time.Millisecond,
		logger:        slog.Default(),
		cacheSize:     10_000,
		probeInterval: 250 * time.Millisecond,
		maxBatch:      128,
		workers:       4,
	}
}

// WithPrefix prepends prefix to every Redis key, to share a database with
// other data. Keys look like prefix + "{" + key + "}" (token bucket) or
// prefix + "{" + key + "}:fw<window µs>" / ":sw<window µs>.<sub-windows>"
// (fixed and sliding windows), where key is what the limiter passes
// ("halt:<policy>:<client>"); the braces are a Redis Cluster hash tag. The
// default is no prefix. The prefix must not contain '{' or
// '}'.
func WithPrefix(prefix string) Option {
	return optionFunc(func(c *config) error {
		if strings.ContainsAny(prefix, "{}") {
			return fmt.Errorf("haltredis: prefix %q must not contain '{' or '}'", prefix)
		}
		c.prefix = prefix
		return nil
	})
}

// WithTimeout bounds how long one decision may wait for Redis, queueing
// included. Past it, Take returns an error (or the memory fallback's answer)
// and the store counts Redis as down. The default is 50ms.
//
// The bound holds for the caller whatever the client's own timeouts; set the
// client's ReadTimeout/WriteTimeout (or ContextTimeoutEnabled) low as well,
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

// WithMemoryFallback answers from a local memory store (configured by cfg;
// nil for its defaults) while Redis is unreachable, instead of returning an
// error. Each app instance then limits on its own, so N instances admit up
// to N times the limit until Redis is back. Without this option (the
// default), Take returns an error and the limiter's failure mode (fail open
// or fail closed, see halt.WithFailureMode) decides.
func WithMemoryFallback(cfg *memory.Config) Option {
	return optionFunc(func(c *config) error {
		c.fallback = true
		c.memCfg = cfg
		return nil
	})
}

// WithTelemetry reports the switches to and from the failure mode as
// halt.NoticeStoreDown and halt.NoticeStoreUp. The default is none (the
// logger still logs them).
func WithTelemetry(t halt.Telemetry) Option {
	return optionFunc(func(c *config) error { c.telemetry = t; return nil })
}

// WithLogger sets the logger for the switches to and from the failure mode,
// logged at Warn and Info. The default is slog.Default(); a nil logger keeps
// it.
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
// answers "blocked", so it never admits more than Redis would. The default
// size is 10,000 keys; 0 disables the cache.
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
// Redis is back. The default is 250ms.
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
// decisions (one EVALSHA each) that were waiting when it was sent. The
// defaults are 4 workers and 128 decisions.
func WithPipelining(workers, maxBatch int) Option {
	return optionFunc(func(c *config) error {
		if workers < 1 || maxBatch < 1 {
			return errors.New("haltredis: pipelining needs at least one worker and a batch of at least one")
		}
		c.workers, c.maxBatch = workers, maxBatch
		return nil
	})
}
