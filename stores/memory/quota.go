package memory

import (
	"context"
	"errors"
	"sync"

	halt "github.com/halt-go/halt/core"
)

var _ halt.QuotaStore = (*Store)(nil)

// ErrQuotaTableFull is returned by Quota when the store holds MaxKeys
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
		if t.m == nil {
			t.m = make(map[string]*quotaEntry)
		}
		if len(t.m) >= t.sweep {
			t.sweepExpired(now)
		}
		if int64(len(t.m)) >= s.maxKeys {
			return halt.QuotaResult{}, ErrQuotaTableFull
		}
		e = &quotaEntry{}
		t.m[string(key)] = e
	}
	e.st, e.end = st, r.End
	return r, nil
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
