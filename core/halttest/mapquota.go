package halttest

import (
	"context"
	"sync"
	"time"

	halt "github.com/halt-go/halt/core"
)

var _ halt.QuotaStore = (*MapStore)(nil)

// mapQuotas are MapStore's quota keys, kept apart from its rate-limit
// state under a lock of their own.
type mapQuotas struct {
	mu sync.Mutex
	m  map[string]halt.QuotaState
}

// Quota implements halt.QuotaStore with [halt.QuotaOp.Apply] under one
// lock, by op.Now.
func (s *MapStore) Quota(_ context.Context, key []byte, op *halt.QuotaOp) (halt.QuotaResult, error) {
	q := &s.quotas
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.m == nil {
		q.m = map[string]halt.QuotaState{}
	}
	st := q.m[string(key)]
	r, changed := op.Apply(&st, op.Now.UnixMicro())
	switch {
	case op.Kind == halt.QuotaReset:
		delete(q.m, string(key))
	case changed:
		q.m[string(key)] = st
	}
	return r, nil
}

var _ halt.QuotaMultiTaker = (*MapStore)(nil)

// TakeAllQuotas implements halt.QuotaMultiTaker with
// [halt.TakeAllQuotasWith] under the quota lock.
func (s *MapStore) TakeAllQuotas(ctx context.Context, keys [][]byte, ps []*halt.Policy, now time.Time, cost int64,
	out []halt.Result, qkeys [][]byte, qops []halt.QuotaOp, qout []halt.QuotaResult) error {
	q := &s.quotas
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.m == nil {
		q.m = map[string]halt.QuotaState{}
	}
	get := func(key []byte) halt.QuotaState { return q.m[string(key)] }
	put := func(key []byte, st halt.QuotaState, _ int64) { q.m[string(key)] = st }
	return halt.TakeAllQuotasWith(ctx, s, s, get, put, keys, ps, now, cost, out, qkeys, qops, qout)
}

// Quota implements halt.QuotaStore for the in-order wrapper: quotas are
// kept, only TakeAll and TakeAllQuotas are missing.
func (o inOrder) Quota(ctx context.Context, key []byte, op *halt.QuotaOp) (halt.QuotaResult, error) {
	return o.s.Quota(ctx, key, op)
}
