package halttest

import (
	"context"
	"sync"
	"time"

	halt "github.com/halt-go/halt/core"
)

// MapStore is the smallest correct halt.Store: one mutex over one map,
// with every capability (Peek, Reset, Refund, TakeAll). It keeps keys
// forever, so it is for tests, where it also checks the suites themselves.
// Create it with NewMapStore.
type MapStore struct {
	mu        sync.Mutex
	m         map[string]*halt.State
	quotas    mapQuotas    // mapquota.go
	penalties mapPenalties // mappenalty.go
	leases    mapLeases    // mapflow.go
}

// NewMapStore returns an empty MapStore.
func NewMapStore() *MapStore { return &MapStore{m: map[string]*halt.State{}} }

var (
	_ halt.Store      = (*MapStore)(nil)
	_ halt.Peeker     = (*MapStore)(nil)
	_ halt.Resetter   = (*MapStore)(nil)
	_ halt.Refunder   = (*MapStore)(nil)
	_ halt.MultiTaker = (*MapStore)(nil)
)

// Take implements halt.Store.
func (s *MapStore) Take(_ context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) (halt.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[string(key)]
	if !ok {
		st = &halt.State{}
		s.m[string(key)] = st
	}
	return p.Decide(st, now.UnixNano(), cost), nil
}

// Peek implements halt.Peeker.
func (s *MapStore) Peek(_ context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) (halt.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[string(key)]
	if !ok {
		st = &halt.State{}
	}
	return p.Peek(st, now.UnixNano(), cost), nil
}

// Reset implements halt.Resetter.
func (s *MapStore) Reset(_ context.Context, key []byte, _ *halt.Policy) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, string(key))
	return nil
}

// Refund implements halt.Refunder.
func (s *MapStore) Refund(_ context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.m[string(key)]; ok {
		p.Refund(st, now.UnixNano(), cost)
	}
	return nil
}

// TakeAll implements halt.MultiTaker.
func (s *MapStore) TakeAll(_ context.Context, keys [][]byte, ps []*halt.Policy, now time.Time, cost int64, out []halt.Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := now.UnixNano()
	states := make([]halt.State, len(keys))
	all := true
	for i, k := range keys {
		if st, ok := s.m[string(k)]; ok {
			states[i] = st.Clone()
		}
		out[i] = ps[i].Decide(&states[i], ns, cost)
		all = all && out[i].Allowed
	}
	for i, k := range keys {
		if all || !out[i].Allowed {
			st := states[i]
			s.m[string(k)] = &st
			continue
		}
		cur := &halt.State{}
		if st, ok := s.m[string(k)]; ok {
			cur = st
		}
		out[i] = ps[i].Peek(cur, ns, cost)
	}
	return nil
}

// InOrder wraps a MapStore so that it offers every capability but TakeAll:
// a limiter with several policies then decides them in order, with
// refunds.
func InOrder(s *MapStore) halt.Store { return inOrder{s: s} }

type inOrder struct{ s *MapStore }

func (o inOrder) Take(ctx context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) (halt.Result, error) {
	return o.s.Take(ctx, key, p, now, cost)
}

func (o inOrder) Peek(ctx context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) (halt.Result, error) {
	return o.s.Peek(ctx, key, p, now, cost)
}

func (o inOrder) Reset(ctx context.Context, key []byte, p *halt.Policy) error {
	return o.s.Reset(ctx, key, p)
}

func (o inOrder) Refund(ctx context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) error {
	return o.s.Refund(ctx, key, p, now, cost)
}
