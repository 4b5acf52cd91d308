package memory

import (
	"context"
	"sync"

	halt "github.com/halt-go/halt/core"
)

var _ halt.PenaltyStore = (*Store)(nil)

// penaltyTable holds the penalty states, apart from the rate-limit
// entries; an entry is dropped once it no longer matters (no penalty, no
// score, past the escalation's memory).
type penaltyTable struct {
	mu    sync.Mutex
	m     map[string]*penaltyEntry
	sweep int
}

type penaltyEntry struct {
	st  halt.PenaltyState
	end int64 // Unix microseconds: past it the entry is dead
}

// Penalty implements [halt.PenaltyStore] under one lock, by op.Now. Like
// quotas, penalty states are never evicted (forgetting one would lift a
// penalty): past MaxKeys live states it returns ErrQuotaTableFull.
func (s *Store) Penalty(_ context.Context, key []byte, op *halt.PenaltyOp) (halt.PenaltyState, int64, bool, error) {
	if s.closed.Load() {
		return halt.PenaltyState{}, 0, false, halt.ErrStoreClosed
	}
	now := op.Now.UnixMicro()
	t := &s.penalties
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[string(key)]
	var st halt.PenaltyState
	if e != nil && e.end > now {
		st = e.st
	}
	started, keep := op.Apply(&st, now)
	switch {
	case keep <= 0:
		delete(t.m, string(key))
	case e != nil:
		e.st, e.end = st, now+keep.Microseconds()
	default:
		if t.m == nil {
			t.m = make(map[string]*penaltyEntry)
		}
		if len(t.m) >= t.sweep {
			for k, x := range t.m {
				if x.end <= now {
					delete(t.m, k)
				}
			}
			t.sweep = max(64, 2*len(t.m))
		}
		if int64(len(t.m)) >= s.maxKeys {
			return halt.PenaltyState{}, 0, false, ErrQuotaTableFull
		}
		t.m[string(key)] = &penaltyEntry{st: st, end: now + keep.Microseconds()}
	}
	return st, now, started, nil
}
