package haltredis

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	halt "github.com/halt-go/halt/core"
)

// blockCache remembers keys Redis reported blocked, so that requests for
// them are answered locally, without a round trip, while the answer holds.
// It only ever answers "blocked", so it never admits more than Redis would.
// It is bounded and safe for concurrent use.
//
// Two clocks meet here: the decision clock (Redis TIME, or the caller's
// clock with WithCallerClock) in which the script decided, and the local
// cache clock in which requests arrive (the caller's clock, or a monotonic
// clock read before the request was sent). An entry keeps their offset,
// measured from the send time, so a local instant maps to a decision-clock
// instant no earlier than the true one: entries expire early, never late.
type blockCache struct {
	seed     maphash.Seed
	perShard int
	shards   [cacheShards]cacheShard
}

const cacheShards = 32

type cacheShard struct {
	mu sync.Mutex
	m  map[string]*blocked
	// bans counts the penalty operations on the shard's clients (see
	// dropBan): a ban read before the count moved is not cached.
	bans atomic.Uint64
}

// blocked is one cached answer. Times are decision-clock nanoseconds.
type blocked struct {
	pa       *policyArgs // the policy it was decided under
	off      int64       // decision clock minus cache clock
	at       int64       // the decision's instant
	validEnd int64       // when the answer may change

	// Token bucket and fixed window: the key's state. Policy.Decide on a
	// copy answers exactly as Redis would, for any cost.
	st       halt.State
	hasState bool

	// Sliding window: the answer itself, for one cost.
	cost      int64
	reason    halt.Reason
	remaining int64
	retryEnd  int64
	resetEnd  int64

	// A banned client, under its penalty's Redis key: the state Redis
	// read, which nothing changes while the ban lasts but an explicit
	// operation (see putBan).
	ban bool
	pst halt.PenaltyState
}

// banFor is how long a cached ban answers at most before Redis is asked
// again: how long an Unban made through another Store, in another
// process, can go unseen here.
const banFor = time.Second

func newBlockCache(size int) *blockCache {
	c := &blockCache{seed: maphash.MakeSeed(), perShard: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*blocked)
	}
	return c
}

func (c *blockCache) shard(key []byte) *cacheShard {
	return &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
}

// shardOf is shard for a key held as a string (the same shard).
func (c *blockCache) shardOf(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)%cacheShards]
}

// get answers key from the cache at local instant local, if it holds a
// blocked answer for this policy and cost.
func (c *blockCache) get(key []byte, p *halt.Policy, pa *policyArgs, cost, local int64) (halt.Result, bool) {
	sh := c.shard(key)
	sh.mu.Lock()
	b, ok := sh.m[string(key)]
	if !ok {
		sh.mu.Unlock()
		return halt.Result{}, false
	}
	now := local + b.off
	if b.validEnd <= now {
		delete(sh.m, string(key))
		sh.mu.Unlock()
		return halt.Result{}, false
	}
	e := *b
	sh.mu.Unlock()
	// A caller's clock that went back, or a request that costs more than
	// the policy can grant, goes to Redis.
	if e.ban || now < e.at || e.pa != pa || cost > p.Capacity() {
		return halt.Result{}, false
	}
	if e.hasState {
		st := e.st
		r := p.Decide(&st, now, cost)
		if r.Allowed || st.Until != e.st.Until { // admitted, or a new cooldown to record
			return halt.Result{}, false
		}
		return r, true
	}
	if e.reason == halt.ReasonCooldown {
		wait := time.Duration(e.validEnd - now)
		return halt.Result{Reason: e.reason, RetryAfter: wait, ResetAfter: max(time.Duration(e.resetEnd-now), wait)}, true
	}
	if e.cost != cost {
		return halt.Result{}, false
	}
	retry := time.Duration(e.retryEnd - now)
	return halt.Result{Reason: e.reason, Remaining: e.remaining, RetryAfter: retry,
		ResetAfter: max(time.Duration(e.resetEnd-now), retry)}, true
}

// put records the blocked answer r that Redis gave at decision-clock
// instant at to a request sent at local instant local.
func (c *blockCache) put(key string, pa *policyArgs, cost, local int64, r halt.Result, rp *reply) {
	if rp.valid <= 0 {
		return
	}
	b := &blocked{
		pa: pa, off: rp.at - local, at: rp.at, validEnd: rp.at + int64(rp.valid),
		st: rp.st, hasState: rp.hasState,
		cost: cost, reason: r.Reason, remaining: r.Remaining,
		retryEnd: rp.at + int64(r.RetryAfter), resetEnd: rp.at + int64(r.ResetAfter),
	}
	sh := c.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.add(key, b, local, c.perShard)
}

// add adds b under key, making room when the shard holds limit entries:
// first by dropping expired entries, then any one. sh.mu is held.
func (sh *cacheShard) add(key string, b *blocked, local int64, limit int) {
	if _, ok := sh.m[key]; !ok && len(sh.m) >= limit {
		for k, e := range sh.m {
			if e.validEnd <= local+e.off { // expired
				delete(sh.m, k)
			}
		}
		if len(sh.m) >= limit {
			for k := range sh.m { // evict one
				delete(sh.m, k)
				break
			}
		}
	}
	sh.m[key] = b
}

// banned answers a penalized take for the client whose penalty's Redis
// key is key at local instant local, if a ban is cached for it: the
// penalty state Redis read, and the decision-clock instant (Unix
// microseconds, never earlier than the true one, so the ban's remaining
// time is never overstated).
func (c *blockCache) banned(key []byte, local int64) (halt.PenaltyState, int64, bool) {
	sh := c.shard(key)
	sh.mu.Lock()
	b, ok := sh.m[string(key)]
	if !ok || !b.ban {
		sh.mu.Unlock()
		return halt.PenaltyState{}, 0, false
	}
	now := local + b.off
	if b.validEnd <= now {
		delete(sh.m, string(key))
		sh.mu.Unlock()
		return halt.PenaltyState{}, 0, false
	}
	st, at := b.pst, b.at
	sh.mu.Unlock()
	us := (now + 999) / 1000
	if now < at || us >= st.Until { // a caller's clock that went back, or the ban's last microsecond
		return halt.PenaltyState{}, 0, false
	}
	return st, us, true
}

// banEpoch is the count of penalty operations on key's shard, to read
// before a request whose answer may go to putBan is sent.
func (c *blockCache) banEpoch(key string) uint64 {
	return c.shardOf(key).bans.Load()
}

// putBan records that Redis found the client of key banned, in state st,
// at decision-clock instant at (Unix microseconds), for a request sent at
// local instant local, after banEpoch returned epoch. A banned client's
// requests change nothing in Redis (no violation is recorded while
// banned), so the entry answers as Redis would. A ban ends at st.Until or
// by an explicit operation (Unban, a new Ban): one made through this Store
// drops the entry and moves the shard's count (dropBan), so an answer read
// before it is not cached afterwards; one made through another Store is
// seen once the entry lapses, banFor after Redis answered at most.
func (c *blockCache) putBan(key string, st halt.PenaltyState, at, local int64, epoch uint64) {
	if !st.Banned || st.Until <= at {
		return
	}
	atNs := at * 1000
	end := atNs + int64(banFor)
	if st.Until < end/1000 {
		end = st.Until * 1000
	}
	b := &blocked{off: atNs - local, at: atNs, validEnd: end, ban: true, pst: st}
	sh := c.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.bans.Load() != epoch {
		return // a penalty operation ran meanwhile: the answer may be stale
	}
	sh.add(key, b, local, c.perShard)
}

// dropBan forgets the ban cached for key, if any, and moves its shard's
// count of penalty operations: run it after an operation that may change
// a ban (see putBan).
func (c *blockCache) dropBan(key string) {
	sh := c.shardOf(key)
	sh.mu.Lock()
	delete(sh.m, key)
	sh.bans.Add(1)
	sh.mu.Unlock()
}

// drop forgets key: Redis admitted a request for it, or it was reset.
func (c *blockCache) drop(key string) {
	sh := c.shardOf(key)
	sh.mu.Lock()
	if len(sh.m) != 0 {
		delete(sh.m, key)
	}
	sh.mu.Unlock()
}

// len is the number of entries held.
func (c *blockCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
