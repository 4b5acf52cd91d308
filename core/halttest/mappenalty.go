package halttest

import (
	"context"
	"sync"
	"time"

	halt "github.com/halt-go/halt/core"
)

var _ halt.PenaltyStore = (*MapStore)(nil)

// mapPenalties are MapStore's penalty states, under a lock of their own.
type mapPenalties struct {
	mu sync.Mutex
	m  map[string]halt.PenaltyState
}

// Penalty implements halt.PenaltyStore with [halt.PenaltyOp.Apply] under
// one lock, by op.Now.
func (s *MapStore) Penalty(_ context.Context, key []byte, op *halt.PenaltyOp) (halt.PenaltyState, int64, bool, error) {
	p := &s.penalties
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]halt.PenaltyState{}
	}
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

var _ halt.PenaltyTaker = (*MapStore)(nil)

// TakePenalized implements halt.PenaltyTaker with [halt.TakePenalizedWith]
// under the penalty lock (the quota and state locks are taken inside it,
// always in that order).
func (s *MapStore) TakePenalized(ctx context.Context, pt *halt.PenalizedTake) error {
	p := &s.penalties
	p.mu.Lock()
	defer p.mu.Unlock()
	return halt.TakePenalizedWith(ctx, s, p, pt)
}

// PenaltyState implements halt.PenaltyTable; p.mu is held.
func (p *mapPenalties) PenaltyState(key []byte, _ int64) halt.PenaltyState { return p.m[string(key)] }

// SetPenaltyState implements halt.PenaltyTable; p.mu is held.
func (p *mapPenalties) SetPenaltyState(key []byte, _ *halt.PenaltyConfig, st *halt.PenaltyState, _ int64, keep time.Duration) bool {
	if p.m == nil {
		p.m = map[string]halt.PenaltyState{}
	}
	if keep > 0 {
		p.m[string(key)] = *st
	} else {
		delete(p.m, string(key))
	}
	return true
}
