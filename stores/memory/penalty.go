package memory

import (
	"context"
	"math"
	"sync"
	"time"

	halt "github.com/halt-go/halt/core"
)

var _ halt.PenaltyStore = (*Store)(nil)

// penaltyTable holds the penalty states, apart from the rate-limit
// entries; an entry is dropped once it no longer matters (no penalty, no
// score, past the escalation's memory), and, when the table is full, once
// it is idle (no penalty, no score: only the escalation's memory is lost).
type penaltyTable struct {
	mu    sync.Mutex
	m     map[string]*penaltyEntry
	sweep int
	next  int64 // no entry is idle before it: a full table sweeps from then on
	full  int64 // when a full table last swept
	limit int64 // MaxKeys, for SetPenaltyState
}

type penaltyEntry struct {
	st   halt.PenaltyState
	end  int64 // Unix microseconds: past it the entry is dead
	idle int64 // Unix microseconds: past it no penalty runs and the score is 0
}

// idleAt is when st has no penalty running and no score left under c.
func idleAt(c *halt.PenaltyConfig, st *halt.PenaltyState) int64 {
	idle := st.Until
	if st.Score > 0 {
		if c.DecayRate <= 0 {
			return math.MaxInt64
		}
		idle = max(idle, st.Stamp+int64(st.Score/c.DecayRate*3.6e9)+1)
	}
	return idle
}

// Penalty implements [halt.PenaltyStore] under one lock, by op.Now. Like
// quotas, penalty states that matter are never evicted (forgetting one
// would lift a penalty or forgive a score): past MaxKeys of them it
// returns ErrQuotaTableFull. Idle ones (no penalty running, no score)
// make room when the table is full.
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
	t.put(key, op.Config, &st, now, keep)
	return st, now, started, nil
}

// room reports whether one more entry fits under limit. It sweeps first
// when the table has grown enough (dropping dead entries), or when it is
// full and an entry may be idle (dropping idle ones too; at most once a
// second while nothing could be reclaimed). t.mu is held.
func (t *penaltyTable) room(now int64, limit int64) bool {
	if t.m == nil {
		t.m = make(map[string]*penaltyEntry)
	}
	full := int64(len(t.m)) >= limit
	if len(t.m) >= t.sweep || (full && t.next <= now && now-t.full >= 1e6) {
		t.next = math.MaxInt64
		for k, x := range t.m {
			if x.end <= now || (full && x.idle <= now) {
				delete(t.m, k)
				continue
			}
			t.next = min(t.next, x.idle)
		}
		t.sweep = max(64, 2*len(t.m))
		if int64(len(t.m)) >= limit {
			t.full = now
		}
	}
	return int64(len(t.m)) < limit
}

// put stores st, under c, for keep after now (Unix microseconds), or
// drops key's entry when keep is 0. Room for a new entry was checked.
// t.mu is held.
func (t *penaltyTable) put(key []byte, c *halt.PenaltyConfig, st *halt.PenaltyState, now int64, keep time.Duration) {
	if keep <= 0 {
		delete(t.m, string(key))
		return
	}
	idle := idleAt(c, st)
	t.next = min(t.next, idle)
	if e := t.m[string(key)]; e != nil {
		e.st, e.end, e.idle = *st, now+keep.Microseconds(), idle
		return
	}
	if t.m == nil {
		t.m = make(map[string]*penaltyEntry)
	}
	t.m[string(key)] = &penaltyEntry{st: *st, end: now + keep.Microseconds(), idle: idle}
}

var _ halt.PenaltyTaker = (*Store)(nil)

// TakePenalized implements [halt.PenaltyTaker]: under the penalty table's
// lock the client's penalty state is read, the policies and quotas decided
// (Take, TakeAll, or TakeAllQuotas under the quota table's lock, taken
// after this one, always in that order) and a violation recorded,
// atomically ([halt.TakePenalizedWith]). When the client has no state and
// MaxKeys states that matter fill the table, the violation is not recorded
// (as Penalty would fail with ErrQuotaTableFull); the decision stands.
func (s *Store) TakePenalized(ctx context.Context, pt *halt.PenalizedTake) error {
	if s.closed.Load() {
		return halt.ErrStoreClosed
	}
	t := &s.penalties
	t.mu.Lock()
	defer t.mu.Unlock()
	t.limit = s.maxKeys
	return halt.TakePenalizedWith(ctx, s, t, pt)
}

// PenaltyState implements [halt.PenaltyTable]; t.mu is held.
func (t *penaltyTable) PenaltyState(key []byte, now int64) halt.PenaltyState {
	if e := t.m[string(key)]; e != nil && e.end > now {
		return e.st
	}
	return halt.PenaltyState{}
}

// SetPenaltyState implements [halt.PenaltyTable]; t.mu is held and t.limit
// set.
func (t *penaltyTable) SetPenaltyState(key []byte, c *halt.PenaltyConfig, st *halt.PenaltyState, now int64, keep time.Duration) bool {
	if keep > 0 && t.m[string(key)] == nil && !t.room(now, t.limit) {
		return false
	}
	t.put(key, c, st, now, keep)
	return true
}
