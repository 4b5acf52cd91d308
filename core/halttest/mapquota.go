package halttest

import (
	"context"
	"sync"

	halt "github.com/halt-go/halt/core"
)

var _ halt.QuotaStore = (*MapStore)(nil)

// quotas are MapStore's quota keys, kept apart from its rate-limit state.
var quotas sync.Map // *MapStore -> *mapQuotas

type mapQuotas struct {
	mu sync.Mutex
	m  map[string]halt.QuotaState
}

// Quota implements halt.QuotaStore with [halt.QuotaOp.Apply] under one
// lock, by op.Now.
func (s *MapStore) Quota(_ context.Context, key []byte, op *halt.QuotaOp) (halt.QuotaResult, error) {
	v, _ := quotas.LoadOrStore(s, &mapQuotas{m: map[string]halt.QuotaState{}})
	q := v.(*mapQuotas)
	q.mu.Lock()
	defer q.mu.Unlock()
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
