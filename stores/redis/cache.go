package haltredis

import (
	"hash/maphash"
	"sync"
	"time"

	halt "github.com/halt-go/halt/core"
)

// blockCache remembers keys Redis reported blocked, so that requests for
// them are answered locally until the answer could change. It is bounded
// and safe for concurrent use. Times are in the store's cache clock
// (nanoseconds): the caller's clock with WithCallerClock, else a local
// monotonic clock read before the request was sent, so an entry always
// expires no later than the state in Redis.
type blockCache struct {
	seed     maphash.Seed
	perShard int
	shards   [cacheShards]cacheShard
}

const cacheShards = 32

type cacheShard struct {
	mu sync.Mutex
	m  map[string]blocked
}

// blocked is one cached answer.
type blocked struct {
	pa        *policyArgs // the policy it was decided under
	cost      int64
	reason    halt.Reason
	remaining int64
	retryEnd  int64 // when RetryAfter reaches zero
	resetEnd  int64 // when ResetAfter reaches zero
	validEnd  int64 // when the answer may change
}

func newBlockCache(size int) *blockCache {
	c := &blockCache{seed: maphash.MakeSeed(), perShard: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]blocked)
	}
	return c
}

// get answers key from the cache at now, if it holds a blocked answer for
// this policy and cost.
func (c *blockCache) get(key []byte, pa *policyArgs, cost, now int64) (halt.Result, bool) {
	sh := &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
	sh.mu.Lock()
	b, ok := sh.m[string(key)]
	if ok && b.validEnd <= now {
		delete(sh.m, string(key))
		ok = false
	}
	sh.mu.Unlock()
	if !ok || b.pa != pa || (b.cost != cost && b.reason != halt.ReasonCooldown) {
		return halt.Result{}, false
	}
	r := halt.Result{Reason: b.reason, Remaining: b.remaining, RetryAfter: time.Duration(b.retryEnd - now)}
	if b.reason == halt.ReasonCooldown {
		r.Remaining = 0
		r.RetryAfter = time.Duration(b.validEnd - now)
	}
	r.ResetAfter = max(time.Duration(b.resetEnd-now), r.RetryAfter)
	return r, true
}

// put records a blocked answer given at now, valid for valid.
func (c *blockCache) put(key string, pa *policyArgs, cost, now int64, r halt.Result, valid time.Duration) {
	if valid <= 0 {
		return
	}
	b := blocked{
		pa: pa, cost: cost, reason: r.Reason, remaining: r.Remaining,
		retryEnd: now + int64(r.RetryAfter), resetEnd: now + int64(r.ResetAfter), validEnd: now + int64(valid),
	}
	sh := &c.shards[maphash.String(c.seed, key)%cacheShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[key]; !ok && len(sh.m) >= c.perShard {
		for k, e := range sh.m {
			if e.validEnd <= now {
				delete(sh.m, k)
			}
		}
		if len(sh.m) >= c.perShard {
			for k := range sh.m { // evict one
				delete(sh.m, k)
				break
			}
		}
	}
	sh.m[key] = b
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
