// Package memory is Halt's in-process store: sharded, bounded, with a TTL on
// every key. It is the default for a single instance; several instances need
// a shared store (haltredis) to enforce one limit.
package memory

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	halt "github.com/halt-go/halt/core"
)

// Config configures a Store. The zero value (or nil) gives the defaults.
type Config struct {
	// MaxKeys bounds the keys kept; when full, expired keys are dropped and
	// then live ones are evicted, so a flood of distinct keys cannot exhaust
	// memory. The default is 1,000,000.
	MaxKeys int
	// SweepInterval is how often expired keys are removed in the
	// background. The default is one minute.
	SweepInterval time.Duration
	// Clock is the clock the sweeper uses. The default is halt.SystemClock.
	Clock halt.Clock
}

const shardCount = 64

// Store is an in-memory halt.Store. It is safe for concurrent use. Close it
// to stop its background sweeper.
type Store struct {
	seed     maphash.Seed
	shards   [shardCount]shard
	perShard int
	clock    halt.Clock
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

type shard struct {
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	st  halt.State
	exp int64 // Unix ns after which the entry is as good as fresh
}

var _ halt.Store = (*Store)(nil)

// New returns a Store; a nil config gives the defaults.
func New(cfg *Config) *Store {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 1_000_000
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = time.Minute
	}
	if c.Clock == nil {
		c.Clock = halt.SystemClock
	}
	s := &Store{
		seed:     maphash.MakeSeed(),
		perShard: max(1, (c.MaxKeys+shardCount-1)/shardCount),
		clock:    c.Clock,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	for i := range s.shards {
		s.shards[i].m = make(map[string]*entry)
	}
	go s.sweeper(c.SweepInterval)
	return s
}

// Take implements halt.Store.
func (s *Store) Take(_ context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) (halt.Result, error) {
	select {
	case <-s.stop:
		return halt.Result{}, halt.ErrStoreClosed
	default:
	}
	ns := now.UnixNano()
	sh := &s.shards[maphash.Bytes(s.seed, key)%shardCount]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[string(key)]
	if !ok {
		if len(sh.m) >= s.perShard {
			sh.makeRoom(ns)
		}
		e = &entry{}
		sh.m[string(key)] = e
	} else if e.exp <= ns {
		slots := e.st.Slots
		clear(slots)
		e.st = halt.State{Slots: slots}
	}
	r := p.Decide(&e.st, ns, cost)
	e.exp = ns + int64(p.TTL(&e.st, ns))
	return r, nil
}

// makeRoom drops expired entries, then one live entry if still full.
// It requires sh.mu held.
func (sh *shard) makeRoom(now int64) {
	for k, e := range sh.m {
		if e.exp <= now {
			delete(sh.m, k)
		}
	}
	for k := range sh.m {
		delete(sh.m, k)
		return
	}
}

// Len returns the number of keys held.
func (s *Store) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// Sweep removes the keys expired at now. The background sweeper calls it.
func (s *Store) Sweep(now time.Time) {
	ns := now.UnixNano()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if e.exp <= ns {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}

func (s *Store) sweeper(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep(s.clock.Now())
		}
	}
}

// Close stops the sweeper; Take then returns halt.ErrStoreClosed. Close is
// idempotent.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return nil
}
