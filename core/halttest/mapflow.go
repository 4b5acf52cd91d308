package halttest

import (
	"context"
	"sync"
	"time"

	halt "github.com/halt-go/halt/core"
)

var (
	_ halt.Charger = (*MapStore)(nil)
	_ halt.Leaser  = (*MapStore)(nil)
)

// mapLeases holds a MapStore's in-flight leases.
type mapLeases struct {
	mu sync.Mutex
	m  map[string]*halt.Leases
}

// Charge implements halt.Charger.
func (s *MapStore) Charge(_ context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[string(key)]
	if !ok {
		st = &halt.State{}
		s.m[string(key)] = st
	}
	p.Charge(st, now.UnixNano(), cost)
	return nil
}

// Acquire implements halt.Leaser.
func (s *MapStore) Acquire(_ context.Context, key []byte, p *halt.Policy, now time.Time, id uint64) (halt.Result, error) {
	t := &s.leases
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*halt.Leases{}
	}
	ls, ok := t.m[string(key)]
	if !ok {
		ls = new(halt.Leases)
		t.m[string(key)] = ls
	}
	return p.Acquire(ls, now.UnixNano(), id), nil
}

// Release implements halt.Leaser.
func (s *MapStore) Release(_ context.Context, key []byte, _ *halt.Policy, id uint64) error {
	t := &s.leases
	t.mu.Lock()
	defer t.mu.Unlock()
	if ls := t.m[string(key)]; ls != nil {
		ls.Release(id)
	}
	return nil
}
