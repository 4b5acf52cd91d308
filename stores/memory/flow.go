package memory

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"

	halt "github.com/halt-go/halt/core"
)

var (
	_ halt.Charger = (*Store)(nil)
	_ halt.Leaser  = (*Store)(nil)
)

// ErrLeaseTableFull is returned by Acquire when the store holds MaxKeys
// keys with leases: a key's leases are never evicted, since forgetting
// them would admit more requests in flight than the policy allows.
var ErrLeaseTableFull = errors.New("memory: lease table full (Config.MaxKeys)")

// Charge implements [halt.Charger]: it takes cost from key at now without
// deciding ([halt.Policy.Charge]), so the key may go into debt.
func (s *Store) Charge(_ context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) error {
	h := maphash.Bytes(s.seed, key)
	ns := now.UnixNano()
	sh := &s.shards[h>>s.shift]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s.closed.Load() {
		return halt.ErrStoreClosed
	}
	pos := sh.find(h)
	if pos < 0 {
		pos = s.insert(sh, h, ns)
	}
	e := sh.at(pos)
	st := sh.state(e, p, ns)
	p.Charge(&st, ns, cost)
	sh.store(e, pos, p, &st, ns)
	return nil
}

// leaseTable holds the leases of InFlight keys, apart from the rate-limit
// entries. A key whose leases have all expired or been released is
// removed.
type leaseTable struct {
	mu    sync.Mutex
	m     map[string]*halt.Leases
	free  []*halt.Leases // removed keys' lease lists, empty, reused with their capacity
	sweep int            // the size at which the next sweep of expired leases runs
}

// maxFreeLeases bounds leaseTable.free.
const maxFreeLeases = 64

// remove forgets key, whose leases ls are all gone, keeping ls for reuse.
// It requires t.mu held.
func (t *leaseTable) remove(key string, ls *halt.Leases) {
	delete(t.m, key)
	if len(t.free) < maxFreeLeases {
		t.free = append(t.free, ls)
	}
}

// fresh returns an empty lease list, reused when one is free. It requires
// t.mu held.
func (t *leaseTable) fresh() *halt.Leases {
	if n := len(t.free); n > 0 {
		ls := t.free[n-1]
		t.free[n-1] = nil
		t.free = t.free[:n-1]
		return ls
	}
	return new(halt.Leases)
}

// Acquire implements [halt.Leaser] under one lock: a lease expiring
// p.Window after now, if the key holds fewer than p.Limit.
func (s *Store) Acquire(_ context.Context, key []byte, p *halt.Policy, now time.Time, id uint64) (halt.Result, error) {
	if s.closed.Load() {
		return halt.Result{}, halt.ErrStoreClosed
	}
	ns := now.UnixNano()
	t := &s.leases
	t.mu.Lock()
	defer t.mu.Unlock()
	ls := t.m[string(key)]
	if ls == nil {
		if t.m == nil {
			t.m = make(map[string]*halt.Leases)
		}
		if len(t.m) >= t.sweep {
			for k, v := range t.m {
				if v.Expire(ns); v.Len() == 0 {
					t.remove(k, v)
				}
			}
			t.sweep = max(1024, 2*len(t.m))
		}
		if int64(len(t.m)) >= s.maxKeys {
			return halt.Result{}, ErrLeaseTableFull
		}
		ls = t.fresh()
		t.m[string(key)] = ls
	}
	r := p.Acquire(ls, ns, id)
	if ls.Len() == 0 {
		t.remove(string(key), ls)
	}
	return r, nil
}

// Release implements [halt.Leaser]: it frees lease id of key.
func (s *Store) Release(_ context.Context, key []byte, _ *halt.Policy, id uint64) error {
	if s.closed.Load() {
		return halt.ErrStoreClosed
	}
	t := &s.leases
	t.mu.Lock()
	defer t.mu.Unlock()
	if ls := t.m[string(key)]; ls != nil {
		if ls.Release(id); ls.Len() == 0 {
			t.remove(string(key), ls)
		}
	}
	return nil
}
