package adapter

import (
	"hash/maphash"
	"math/bits"
	"reflect"
	"sync"
)

// The stack links the Halt middleware of one request for adapters that
// have no per-request storage of their own (net/http and chi, whose
// request context cannot be changed without copying the request): each
// middleware that counts a request enters it under an identity of the
// request (its http.ResponseWriter), a limiter that refuses the request
// marks it refused, and each middleware that entered, once the rest of the
// chain has returned, sees the mark and gives back what it took. A request
// that passes every limiter costs two short critical sections and no
// allocation. The table is bounded: a request that finds no room is not
// entered, and is then charged by every limiter it passed (never
// over-admitted).
const (
	stackShards = 128
	stackSlots  = 16 // per shard: up to 2,048 requests in flight are tracked
)

// The slots' bit masks are uint16: this fails to compile with more slots.
const _ = uint16(1<<stackSlots - 1)

// stackShard holds up to stackSlots entered requests: slot j is in use
// when bit j of used is set, holds the identity's hash in hs[j] (so a
// lookup reads two cache lines, not every identity) and the identity in
// ids[j], and bit j of refused marks it refused.
type stackShard struct {
	mu      sync.Mutex
	used    uint16
	refused uint16
	hs      [stackSlots]uint64
	ids     [stackSlots]any
	_       [48]byte // 448 bytes: shards on separate cache lines
}

// find returns the slot holding id (of hash h), or -1. It requires sh.mu
// held.
func (sh *stackShard) find(h uint64, id any) int {
	for m := sh.used; m != 0; m &= m - 1 {
		j := bits.TrailingZeros16(m)
		if sh.hs[j] == h && sh.ids[j] == id {
			return j
		}
	}
	return -1
}

var (
	stacks      [stackShards]stackShard
	stackSeed   = maphash.MakeSeed()
	pointerSeed = maphash.Comparable(stackSeed, 0)
)

// Entry is one middleware's place in a request's stack (see [Enter]).
type Entry struct {
	sh    *stackShard
	i     int
	owner bool
}

// locate returns id's shard and hash, or nil when id cannot serve as an
// identity (its type is not comparable).
func locate(id any) (*stackShard, uint64) {
	if id == nil {
		return nil, 0
	}
	var h uint64
	if v := reflect.ValueOf(id); v.Kind() == reflect.Pointer {
		// The usual identity, a pointer: mixed with the seed by a
		// multiplication, far cheaper than hashing the interface.
		h = (uint64(v.Pointer()) ^ pointerSeed) * 0x9e3779b97f4a7c15
		h ^= h >> 29
	} else if v.Type().Comparable() {
		h = maphash.Comparable(stackSeed, id)
	} else {
		return nil, 0
	}
	h |= 1
	return &stacks[(h>>1)%stackShards], h
}

// Enter enters the request identified by id (a pointer, such as the
// request's http.ResponseWriter) in the stack, after a middleware counted
// it. The first to enter a request owns its entry; later ones share it.
// Call Leave once the rest of the chain has returned.
func Enter(id any) Entry {
	sh, h := locate(id)
	if sh == nil {
		return Entry{i: -1}
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if j := sh.find(h, id); j >= 0 {
		return Entry{sh: sh, i: j}
	}
	if sh.used == 1<<stackSlots-1 {
		return Entry{i: -1} // full
	}
	j := bits.TrailingZeros16(^sh.used)
	sh.used |= 1 << j
	sh.refused &^= 1 << j
	sh.hs[j], sh.ids[j] = h, id
	return Entry{sh: sh, i: j, owner: true}
}

// Refuse marks the request identified by id refused, if it was entered.
func Refuse(id any) {
	sh, h := locate(id)
	if sh == nil {
		return
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if j := sh.find(h, id); j >= 0 {
		sh.refused |= 1 << j
	}
}

// Leave reports whether a limiter refused the request after the entering
// middleware let it through; the owner's Leave also frees the entry.
func (e Entry) Leave() (refused bool) {
	if e.i < 0 || e.sh == nil {
		return false
	}
	e.sh.mu.Lock()
	defer e.sh.mu.Unlock()
	refused = e.sh.refused&(1<<e.i) != 0
	if e.owner {
		e.sh.used &^= 1 << e.i
		e.sh.refused &^= 1 << e.i
		e.sh.hs[e.i], e.sh.ids[e.i] = 0, nil
	}
	return refused
}
