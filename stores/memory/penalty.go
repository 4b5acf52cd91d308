package memory

import (
	"context"
	"sync"
	"time"

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
	if keep > 0 && e == nil && !t.room(now, s.maxKeys) {
		return halt.PenaltyState{}, 0, false, ErrQuotaTableFull
	}
	t.put(key, &st, now, keep)
	return st, now, started, nil
}

// room reports whether one more entry fits under max, sweeping the dead
// entries first when the table has grown enough (or is full). t.mu is
// held.
func (t *penaltyTable) room(now int64, limit int64) bool {
	if t.m == nil {
		t.m = make(map[string]*penaltyEntry)
	}
	if len(t.m) >= t.sweep || int64(len(t.m)) >= limit {
		for k, x := range t.m {
			if x.end <= now {
				delete(t.m, k)
			}
		}
		t.sweep = max(64, 2*len(t.m))
	}
	return int64(len(t.m)) < limit
}

// put stores st for keep after now (Unix microseconds), or drops key's
// entry when keep is 0. Room for a new entry was checked. t.mu is held.
func (t *penaltyTable) put(key []byte, st *halt.PenaltyState, now int64, keep time.Duration) {
	if keep <= 0 {
		delete(t.m, string(key))
		return
	}
	if e := t.m[string(key)]; e != nil {
		e.st, e.end = *st, now+keep.Microseconds()
		return
	}
	if t.m == nil {
		t.m = make(map[string]*penaltyEntry)
	}
	t.m[string(key)] = &penaltyEntry{st: *st, end: now + keep.Microseconds()}
}

var _ halt.PenaltyTaker = (*Store)(nil)

// TakePenalized implements [halt.PenaltyTaker]: under the penalty table's
// lock the client's penalty state is read, the policies and quotas decided
// (TakeAll, or TakeAllQuotas under the quota table's lock, taken after
// this one, always in that order) and a violation recorded, atomically
// ([halt.TakePenalizedWith]). Like Penalty, it returns ErrQuotaTableFull,
// before deciding anything, when the client has no state and MaxKeys live
// states fill the table.
func (s *Store) TakePenalized(ctx context.Context, pt *halt.PenalizedTake) error {
	if s.closed.Load() {
		return halt.ErrStoreClosed
	}
	t := &s.penalties
	t.mu.Lock()
	defer t.mu.Unlock()
	now := pt.Now.UnixMicro()
	if e := t.m[string(pt.PenaltyKey)]; (e == nil || e.end <= now) && !t.room(now, s.maxKeys) {
		return ErrQuotaTableFull
	}
	get := func(key []byte, now int64) halt.PenaltyState {
		if e := t.m[string(key)]; e != nil && e.end > now {
			return e.st
		}
		return halt.PenaltyState{}
	}
	put := func(key []byte, st *halt.PenaltyState, keep time.Duration) {
		t.put(key, st, now, keep)
	}
	return halt.TakePenalizedWith(ctx, s, get, put, pt)
}
