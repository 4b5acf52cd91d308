package memory

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	halt "github.com/halt-go/halt/core"
)

var _ halt.QuotaStore = (*Store)(nil)

// ErrQuotaTableFull is returned by Quota and TakeAllQuotas (and Penalty)
// when the store holds MaxKeys quota keys in their period (MaxKeys penalty
// states that matter): a live quota is never evicted, since
// forgetting one would grant its whole allowance again, nor a running
// penalty. What no longer matters is reclaimed first: a quota whose period
// has passed, a penalty state with no score and no penalty running.
var ErrQuotaTableFull = errors.New("memory: quota table full (Config.MaxKeys)")

// quotaTable holds the quota keys, apart from the rate-limit entries:
// their state is another shape, and they are never evicted while their
// period runs.
type quotaTable struct {
	mu    sync.Mutex
	m     map[string]*quotaEntry
	sweep int   // the size at which the next sweep runs
	next  int64 // no entry's period ends before it (Unix seconds): a full table sweeps from then on
	full  int64 // when a full table last swept (Unix microseconds)
}

type quotaEntry struct {
	st  halt.QuotaState
	end int64 // the period's end, Unix seconds: past it the entry is dead
}

// Quota implements [halt.QuotaStore] under one lock, by op.Now: the
// memory store has no clock of its own. An entry is dropped once its period
// is over.
func (s *Store) Quota(_ context.Context, key []byte, op *halt.QuotaOp) (halt.QuotaResult, error) {
	if s.closed.Load() {
		return halt.QuotaResult{}, halt.ErrStoreClosed
	}
	now := op.Now.UnixMicro()
	t := &s.quotas
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[string(key)]
	if op.Kind == halt.QuotaReset {
		delete(t.m, string(key))
		var st halt.QuotaState
		r, _ := op.Apply(&st, now)
		return r, nil
	}
	var st halt.QuotaState
	if e != nil {
		st = e.st
	}
	r, changed := op.Apply(&st, now)
	if !changed {
		return r, nil
	}
	if e == nil && !t.room(1, now, s.maxKeys) {
		return halt.QuotaResult{}, ErrQuotaTableFull
	}
	t.put(key, st, r.End)
	return r, nil
}

// put stores st under key, its period ending at end (Unix seconds). t.mu
// is held, and room was checked for a new key.
func (t *quotaTable) put(key []byte, st halt.QuotaState, end int64) {
	e := t.m[string(key)]
	if e == nil {
		e = &quotaEntry{}
		t.m[string(key)] = e
	}
	e.st, e.end = st, end
	t.next = min(t.next, end)
}

// room reports whether n more entries fit under limit, sweeping the
// entries whose period is over first when the table has grown enough, or
// when it is full and some period may have ended (at most once a second
// while nothing could be reclaimed). t.mu is held.
func (t *quotaTable) room(n int, now int64, limit int64) bool {
	if t.m == nil {
		t.m = make(map[string]*quotaEntry)
	}
	full := int64(len(t.m)+n) > limit
	if len(t.m)+n > t.sweep || (full && t.next*1e6 <= now && now-t.full >= 1e6) {
		t.sweepExpired(now)
		if int64(len(t.m)+n) > limit {
			t.full = now
		}
	}
	return int64(len(t.m)+n) <= limit
}

var _ halt.QuotaMultiTaker = (*Store)(nil)

// TakeAllQuotas implements [halt.QuotaMultiTaker]: the quotas and the
// policies of one check, all or nothing, atomically: under the quota
// table's lock the quotas are checked, the policies decided with TakeAll
// and, when they all admit, the quotas consumed ([halt.TakeAllQuotasWith]).
func (s *Store) TakeAllQuotas(ctx context.Context, keys [][]byte, ps []*halt.Policy, now time.Time, cost int64,
	out []halt.Result, qkeys [][]byte, qops []halt.QuotaOp, qout []halt.QuotaResult) error {
	if s.closed.Load() {
		return halt.ErrStoreClosed
	}
	t := &s.quotas
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.room(len(qkeys), now.UnixMicro(), s.maxKeys) {
		return ErrQuotaTableFull
	}
	get := func(key []byte) halt.QuotaState {
		if e := t.m[string(key)]; e != nil {
			return e.st
		}
		return halt.QuotaState{}
	}
	put := func(key []byte, st halt.QuotaState, end int64) { t.put(key, st, end) }
	return halt.TakeAllQuotasWith(ctx, s, s, get, put, keys, ps, now, cost, out, qkeys, qops, qout)
}

// sweepExpired drops the entries whose period ended before now (Unix
// microseconds) and sets the next sweep at twice what is left, so sweeps
// cost O(1) per insertion.
func (t *quotaTable) sweepExpired(now int64) {
	t.next = math.MaxInt64
	for k, e := range t.m {
		if e.end*1e6 <= now {
			delete(t.m, k)
			continue
		}
		t.next = min(t.next, e.end)
	}
	t.sweep = max(64, 2*len(t.m))
}
