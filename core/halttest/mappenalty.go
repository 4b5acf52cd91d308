package halttest

import (
	"context"
	"sync"

	halt "github.com/halt-go/halt/core"
)

var _ halt.PenaltyStore = (*MapStore)(nil)

var penalties sync.Map // *MapStore -> *mapPenalties

type mapPenalties struct {
	mu sync.Mutex
	m  map[string]halt.PenaltyState
}

// Penalty implements halt.PenaltyStore with [halt.PenaltyOp.Apply] under
// one lock, by op.Now.
func (s *MapStore) Penalty(_ context.Context, key []byte, op *halt.PenaltyOp) (halt.PenaltyState, int64, bool, error) {
	v, _ := penalties.LoadOrStore(s, &mapPenalties{m: map[string]halt.PenaltyState{}})
	p := v.(*mapPenalties)
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.m[string(key)]
	now := op.Now.UnixMicro()
	started, keep := op.Apply(&st, now)
	if keep > 0 {
		p.m[string(key)] = st
	} else {
		delete(p.m, string(key))
	}
	return st, now, started, nil
}

// Penalty implements halt.PenaltyStore for the in-order wrapper.
func (o inOrder) Penalty(ctx context.Context, key []byte, op *halt.PenaltyOp) (halt.PenaltyState, int64, bool, error) {
	return o.s.Penalty(ctx, key, op)
}
