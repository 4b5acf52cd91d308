package memory

import "time"

// NewWithTick is New with the background sweep driven by tick (tests).
func NewWithTick(cfg *Config, tick <-chan time.Time) *Store { return newStore(cfg, tick) }

// Shards returns the number of shards (tests).
func (s *Store) Shards() int { return len(s.shards) }
