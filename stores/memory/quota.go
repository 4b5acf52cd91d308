package memory

import (
	"context"
	"errors"
	"sync"
	"time"

	halt "github.com/halt-go/halt/core"
)

var _ halt.QuotaStore = (*Store)(nil)

// ErrQuotaTableFull is returned by Quota (and Penalty) when the store holds MaxKeys
// quota keys in their period: a quota is never evicted, since forgetting
// one would grant its whole allowance again.
var ErrQuotaTableFull = errors.New("memory: quota table full (Config.MaxKeys)")

// quotaTable holds the quota keys, apart from the rate-limit entries:
// their state is another shape, and they are never evicted.
type quotaTable struct {
	mu    sync.Mutex
	m     map[string]*quotaEntry
	sweep int // the size at which the next sweep runs
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
	if e == nil {
		if !t.room(1, now, s.maxKeys) {
			return halt.QuotaResult{}, ErrQuotaTableFull
		}
		e = &quotaEntry{}
		t.m[string(key)] = e
	}
	e.st, e.end = st, r.End
	return r, nil
}

// room reports whether n more entries fit under max, sweeping first when
// the table has grown enough. t.mu is held.
func (t *quotaTable) room(n int, now int64, max int64) bool {
	if t.m == nil {
		t.m = make(map[string]*quotaEntry)
	}
	if len(t.m)+n > t.sweep {
		t.sweepExpired(now)
	}
	return int64(len(t.m)+n) <= max
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
	put := func(key []byte, st halt.QuotaState, end int64) {
		e := t.m[string(key)]
		if e == nil {
			e = &quotaEntry{}
			t.m[string(key)] = e
		}
		e.st, e.end = st, end
	}
	return halt.TakeAllQuotasWith(ctx, s, s, get, put, keys, ps, now, cost, out, qkeys, qops, qout)
}

// sweepExpired drops the entries whose period ended before now (Unix
// microseconds) and sets the next sweep at twice what is left, so sweeps
// cost O(1) per insertion.
func (t *quotaTable) sweepExpired(now int64) {
	for k, e := range t.m {
		if e.end*1e6 <= now {
			delete(t.m, k)
		}
	}
	t.sweep = max(64, 2*len(t.m))
}
