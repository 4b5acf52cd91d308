// Package memory is Halt's in-process store: sharded, bounded, with a TTL on
// every key, and no allocation when it decides for a key it already holds.
// It is the default for a single instance; several instances need a shared
// store (haltredis) to enforce one limit.
//
// # Layout
//
// A key is reduced to a 64-bit hash ([hash/maphash], with a random seed per
// Store) and never stored: the hash selects one of up to 64 shards, each
// guarded by its own mutex. A shard keeps its entries densely, in chunks of
// fixed-size records that hold no pointers (so the garbage collector never
// scans them), and finds them through an open-addressing index of 32-bit
// positions with linear probing, kept at most three quarters full. One
// entry is 40 bytes (hash, the three numbers of a [halt.State], the expiry
// and a tag byte); with the index, a key costs about 50 bytes. A sliding
// window's sub-window counters live out of line, beside the shard, for the
// keys that use one.
//
// # Versioned state
//
// Each entry is tagged with [halt.StateVersion] and the algorithm that
// wrote it. An entry whose tag does not match what reads it (a policy whose
// algorithm changed under the same name, a colliding key of another
// algorithm, a layout from another version) is read as a key never seen,
// never misread.
//
// # Hash collisions
//
// Two distinct keys whose hashes collide share one state. With n keys held
// at once the chance that any two collide is about n²/2⁶⁵: one in 37 million
// for a full store of a million keys. The seed is random and secret, so a
// client cannot aim a collision at someone else's key. A collision never
// lets a key exceed its own policy's limit through the other key's spare
// capacity under the same policy: both keys draw from one budget, so each is
// limited at least as tightly as alone. (Colliding keys of two different
// policies, whose states mean different things, would be decided on the
// other's state until it expires; at these odds we accept it rather than
// spend the bytes on storing keys.)
//
// # Bounds
//
// Every entry has an expiry from [halt.Policy.TTL]: past it, a fresh state
// decides the same way, so an expired entry is reused as new on its next
// request and removed by the background sweep. The store holds at most
// Config.MaxKeys keys: inserting one more evicts, among eight entries of the
// same shard sampled round-robin, an expired one or else the one expiring
// first (the one whose loss forgets the least). A flood of distinct keys
// therefore cycles through a bounded table instead of growing it; note that
// an evicted key starts over with a full allowance, so size MaxKeys above
// the number of clients you expect to be limited at once.
package memory

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	halt "github.com/halt-go/halt/core"
)

// Defaults of [Config].
const (
	// DefaultMaxKeys is the default Config.MaxKeys: about 50 MB when full.
	DefaultMaxKeys = 1_000_000
	// MaxMaxKeys is the largest Config.MaxKeys (about 13 GB when full).
	MaxMaxKeys = 1 << 28
	// DefaultSweepInterval is the default Config.SweepInterval.
	DefaultSweepInterval = time.Minute
)

// Config configures a Store. The zero value (or nil) gives the defaults.
type Config struct {
	// MaxKeys bounds the keys held. When the store is full, storing a new
	// key evicts another (see the package documentation), so a flood of
	// distinct keys cannot exhaust memory. [Store.Len] never exceeds MaxKeys
	// by more than the number of shards that were empty when the store
	// filled up (at most 63). The default value is DefaultMaxKeys
	// (1,000,000); values above MaxMaxKeys (2²⁸) are lowered to it.
	MaxKeys int
	// SweepInterval is how often a background goroutine removes expired
	// keys. The default value is DefaultSweepInterval (one minute).
	SweepInterval time.Duration
	// Clock is the clock the background sweep reads. The default value is
	// halt.SystemClock. Take uses the instant it is given, not this clock.
	Clock halt.Clock
}

const (
	maxShards   = 64
	chunkBits   = 8
	chunkSize   = 1 << chunkBits // entries per chunk
	chunkMask   = chunkSize - 1
	firstChunk  = 4  // initial capacity of a shard's first chunk
	minIndex    = 16 // smallest index, in slots
	evictSample = 8  // entries looked at to choose an eviction victim
	sweepBatch  = 512
	maxMaxKeys  = MaxMaxKeys
	winBits     = 24 // entry.tw: the low 24 bits are the window reference
	winMask     = 1<<winBits - 1
)

// Store is an in-memory [halt.Store]. It is safe for concurrent use. Close
// it to stop its background sweep.
type Store struct {
	seed      maphash.Seed
	shards    []shard
	shift     uint // a hash's top bits select the shard: h >> shift
	maxKeys   int64
	keys      atomic.Int64
	closed    atomic.Bool
	clock     halt.Clock
	stop      chan struct{}
	done      chan struct{}
	once      sync.Once
	quotas    quotaTable   // quota.go
	penalties penaltyTable // penalty.go
	leases    leaseTable   // flow.go
}

// shard is one lock's worth of keys. Every field is guarded by mu.
type shard struct {
	mu sync.Mutex
	// index is an open-addressing table with linear probing: 0 is an empty
	// slot, any other value a reference to an entry (see ref: its position
	// and a fingerprint of its hash). Its length is a power of two; a
	// hash's low bits give its home slot.
	index []uint32
	// chunks hold the entries densely: entry i is chunks[i>>chunkBits][i&chunkMask].
	// Every chunk but the last holds chunkSize entries; an empty chunk may
	// follow as a spare.
	chunks [][]entry
	// windows holds the sub-window counters of sliding-window entries.
	windows []window
	n       int // entries held
	hand    int // where the next eviction sample starts
	_       [32]byte
}

// entry is one key's state, 40 bytes, with no pointers.
type entry struct {
	hash  uint64
	stamp int64   // halt.State.Stamp
	level float64 // halt.State.Level
	until int64   // halt.State.Until
	exp   uint32  // Unix second from which the state is as good as fresh
	// tw holds the tag (top 8 bits: see tagOf) and the window reference
	// (low 24 bits: 1 + index in shard.windows, or 0 for none). A shard
	// holds at most MaxMaxKeys/shards entries on average, far below 2²⁴.
	tw uint32
}

func (e *entry) win() uint32     { return e.tw & winMask }
func (e *entry) setWin(w uint32) { e.tw = e.tw&^winMask | w }
func (e *entry) tag() uint8      { return uint8(e.tw >> winBits) }
func (e *entry) setTag(t uint8)  { e.tw = e.tw&winMask | uint32(t)<<winBits }

// tagOf is the tag of state written for p: the state layout's version and
// the algorithm (never 0, which a new entry has).
func tagOf(p *halt.Policy) uint8 {
	return uint8(halt.StateVersion<<4) | uint8(p.Algorithm+1)
}

// window holds a sliding-window entry's sub-window counters.
type window struct {
	slots []int64
	owner uint32 // position of the entry in the shard
}

var (
	_ halt.Store      = (*Store)(nil)
	_ halt.Peeker     = (*Store)(nil)
	_ halt.Resetter   = (*Store)(nil)
	_ halt.Refunder   = (*Store)(nil)
	_ halt.MultiTaker = (*Store)(nil)
)

// New returns a Store and starts its background sweep; a nil config gives
// the defaults. Call Close to stop the sweep.
func New(cfg *Config) *Store {
	return newStore(cfg, nil)
}

// newStore is New with the sweep's ticks taken from tick when it is not nil
// (tests).
func newStore(cfg *Config, tick <-chan time.Time) *Store {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	c.MaxKeys = min(c.MaxKeys, maxMaxKeys)
	if c.SweepInterval <= 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.Clock == nil {
		c.Clock = halt.SystemClock
	}
	// 64 shards, fewer for small stores so each shard holds at least 64
	// keys and the overshoot bound of MaxKeys stays small.
	n, bits := 1, uint(0)
	for n < maxShards && n*2*64 <= c.MaxKeys {
		n, bits = n*2, bits+1
	}
	s := &Store{
		seed:    maphash.MakeSeed(),
		shards:  make([]shard, n),
		shift:   64 - bits,
		maxKeys: int64(c.MaxKeys),
		clock:   c.Clock,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if tick == nil {
		t := time.NewTicker(c.SweepInterval)
		go s.sweeper(t.C, t.Stop)
	} else {
		go s.sweeper(tick, func() {})
	}
	return s
}

// Take implements [halt.Store]: it decides for key at instant now and
// records the result, under the key's shard lock. It allocates nothing for
// a key the store holds (a sliding window's first request allocates its
// counters). After Close it returns [halt.ErrStoreClosed].
func (s *Store) Take(_ context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) (halt.Result, error) {
	h := maphash.Bytes(s.seed, key)
	ns := now.UnixNano()
	sh := &s.shards[h>>s.shift]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s.closed.Load() {
		return halt.Result{}, halt.ErrStoreClosed
	}
	pos := sh.find(h)
	if pos < 0 {
		pos = s.insert(sh, h, ns)
	}
	// state and store, written out: this is the hot path.
	e := sh.at(pos)
	tag := tagOf(p)
	st := halt.State{Stamp: e.stamp, Level: e.level, Until: e.until}
	w := e.tw & winMask
	if w != 0 {
		st.Slots = sh.windows[w-1].slots
	}
	if expired(e.exp, ns) || uint8(e.tw>>winBits) != tag {
		clear(st.Slots)
		st = halt.State{Slots: st.Slots}
	}
	var r halt.Result
	p.DecideInto(&st, ns, cost, &r)
	e.stamp, e.level, e.until = st.Stamp, st.Level, st.Until
	switch {
	case w != 0:
		sh.windows[w-1].slots = st.Slots
	case st.Slots != nil:
		sh.windows = append(sh.windows, window{slots: st.Slots, owner: uint32(pos)})
		w = uint32(len(sh.windows))
	}
	e.tw = uint32(tag)<<winBits | w
	e.exp = expiry(ns, p.TTLAfter(&st, ns, &r))
	// Field by field: "return r" copies r whole through memory first, and
	// reading back whole what was just written field by field stalls.
	return halt.Result{Allowed: r.Allowed, Remaining: r.Remaining, ResetAfter: r.ResetAfter,
		RetryAfter: r.RetryAfter, Reason: r.Reason, Wait: r.Wait}, nil
}

// state returns e's state as p reads it at ns: a fresh state when e has
// expired or was written under another tag. Slots are the shard's own. It
// requires sh.mu held.
func (sh *shard) state(e *entry, p *halt.Policy, ns int64) halt.State {
	st := halt.State{Stamp: e.stamp, Level: e.level, Until: e.until}
	if w := e.win(); w != 0 {
		st.Slots = sh.windows[w-1].slots
	}
	if expired(e.exp, ns) || e.tag() != tagOf(p) {
		clear(st.Slots)
		st = halt.State{Slots: st.Slots}
	}
	return st
}

// store writes st back to e (at position pos) with its tag and expiry. It
// requires sh.mu held.
func (sh *shard) store(e *entry, pos int, p *halt.Policy, st *halt.State, ns int64) {
	sh.put(e, pos, p, st)
	e.exp = expiry(ns, p.TTL(st, ns))
}

// put writes st back to e (at position pos) with p's tag, leaving the
// expiry to its caller. It requires sh.mu held.
func (sh *shard) put(e *entry, pos int, p *halt.Policy, st *halt.State) {
	e.stamp, e.level, e.until = st.Stamp, st.Level, st.Until
	switch w := e.win(); {
	case w != 0:
		sh.windows[w-1].slots = st.Slots
	case st.Slots != nil:
		sh.windows = append(sh.windows, window{slots: st.Slots, owner: uint32(pos)})
		e.setWin(uint32(len(sh.windows)))
	}
	e.setTag(tagOf(p))
}

// TakeAll implements [halt.MultiTaker]: it decides every key under its
// policy with all their shards locked (each once, in shard order, so
// concurrent calls cannot deadlock) and records the decisions only when
// every policy admits; otherwise nothing is charged (a cooldown a
// rejecting policy starts is recorded). Each key is looked up once and its
// state decided on a copy, which becomes the state in place. It allocates
// nothing for up to four keys of token buckets and fixed windows (a
// sliding window's counters are copied).
func (s *Store) TakeAll(_ context.Context, keys [][]byte, ps []*halt.Policy, now time.Time, cost int64, out []halt.Result) error {
	n := len(keys)
	if len(ps) != n || len(out) < n {
		return fmt.Errorf("memory: TakeAll: %d keys, %d policies and room for %d results", n, len(ps), len(out))
	}
	if n == 2 {
		return s.takeTwo(keys[0], keys[1], ps[0], ps[1], now.UnixNano(), cost, &out[0], &out[1])
	}
	const inline = 4
	var hb [inline]uint64
	var pb [inline]int
	var lb [inline]uint8
	var stb [inline]halt.State
	hashes, pos, locked, states := hb[:], pb[:], lb[:0], stb[:]
	if n > inline {
		hashes, pos, locked, states = make([]uint64, n), make([]int, n), make([]uint8, 0, n), make([]halt.State, n)
	}
	for i, k := range keys {
		h := maphash.Bytes(s.seed, k)
		hashes[i] = h
		locked = addShard(locked, uint8(h>>s.shift)) // at most 64 shards
	}
	for _, i := range locked {
		s.shards[i].mu.Lock()
	}
	defer s.unlockShards(locked)
	if s.closed.Load() {
		return halt.ErrStoreClosed
	}
	ns := now.UnixNano()
	// Find (or insert, without evicting, which would move entries) every
	// key first: positions are stable from here on, entries' addresses
	// are not until the inserts are done.
	inserted := 0
	for i, h := range hashes[:n] {
		sh := &s.shards[h>>s.shift]
		p := sh.find(h)
		if p < 0 {
			p = s.insertNoEvict(sh, h)
			inserted++
		}
		pos[i] = p
	}
	all := true
	for i, h := range hashes[:n] {
		sh := &s.shards[h>>s.shift]
		sh.stateCopy(sh.at(pos[i]), ps[i], ns, &states[i])
		ps[i].DecideInto(&states[i], ns, cost, &out[i])
		all = all && out[i].Allowed
	}
	for i, h := range hashes[:n] {
		sh := &s.shards[h>>s.shift]
		sh.settle(pos[i], ps[i], &states[i], ns, cost, &out[i], all)
	}
	s.makeRoom(locked, inserted, ns)
	return nil
}

// takeTwo is TakeAll for two keys written out, without the bookkeeping
// of n keys: the commonest several-policy check ("per second and per
// hour").
func (s *Store) takeTwo(k0, k1 []byte, p0, p1 *halt.Policy, ns, cost int64, r0, r1 *halt.Result) error {
	h0, h1 := maphash.Bytes(s.seed, k0), maphash.Bytes(s.seed, k1)
	i0, i1 := uint8(h0>>s.shift), uint8(h1>>s.shift)
	lb := [2]uint8{i0, i1}
	locked := lb[:]
	switch {
	case i0 == i1:
		locked = lb[:1]
	case i0 > i1:
		lb[0], lb[1] = i1, i0
	}
	for _, i := range locked {
		s.shards[i].mu.Lock()
	}
	defer s.unlockShards(locked)
	if s.closed.Load() {
		return halt.ErrStoreClosed
	}
	sh0, sh1 := &s.shards[i0], &s.shards[i1]
	inserted := 0
	pos0 := sh0.find(h0)
	if pos0 < 0 {
		pos0 = s.insertNoEvict(sh0, h0)
		inserted++
	}
	pos1 := sh1.find(h1)
	if pos1 < 0 {
		pos1 = s.insertNoEvict(sh1, h1)
		inserted++
	}
	var st0, st1 halt.State
	sh0.stateCopy(sh0.at(pos0), p0, ns, &st0)
	p0.DecideInto(&st0, ns, cost, r0)
	sh1.stateCopy(sh1.at(pos1), p1, ns, &st1)
	p1.DecideInto(&st1, ns, cost, r1)
	all := r0.Allowed && r1.Allowed
	sh0.settle(pos0, p0, &st0, ns, cost, r0, all)
	sh1.settle(pos1, p1, &st1, ns, cost, r1, all)
	if inserted > 0 {
		s.makeRoom(locked, inserted, ns)
	}
	return nil
}

// stateCopy writes to st the state of e as p reads it at ns (as state
// does) on a copy: the entry, and a sliding window's counters, stay as
// they are while the copy is decided. It requires sh.mu held.
func (sh *shard) stateCopy(e *entry, p *halt.Policy, ns int64, st *halt.State) {
	if expired(e.exp, ns) || uint8(e.tw>>winBits) != tagOf(p) {
		st.Stamp, st.Level, st.Until = 0, 0, 0
		if w := e.tw & winMask; w != 0 {
			st.Slots = make([]int64, len(sh.windows[w-1].slots))
		}
		return
	}
	st.Stamp, st.Level, st.Until = e.stamp, e.level, e.until
	if w := e.tw & winMask; w != 0 {
		st.Slots = slices.Clone(sh.windows[w-1].slots)
	}
}

// settle records the decision r of TakeAll for the entry at pos, decided
// on the copy st: when every policy admitted (all), and for a rejecting
// policy, which records what rejecting changed (a cooldown it starts, a
// window that moved on), the copy becomes the state; a policy that
// admitted a request another rejected is not charged, and r becomes its
// standing as it is. It requires sh.mu held.
func (sh *shard) settle(pos int, p *halt.Policy, st *halt.State, ns, cost int64, r *halt.Result, all bool) {
	e := sh.at(pos)
	if !all && r.Allowed {
		cur := sh.state(e, p, ns)
		*r = p.Peek(&cur, ns, cost)
		return
	}
	sh.storeAfter(e, pos, p, st, ns, r)
}

// makeRoom evicts, from the locked shards, as many entries as TakeAll
// inserted beyond the store's bound, as Take does for one.
func (s *Store) makeRoom(locked []uint8, inserted int, ns int64) {
	for ; inserted > 0 && s.keys.Load() > s.maxKeys; inserted-- {
		for _, i := range locked {
			if sh := &s.shards[i]; sh.n > 0 && s.keys.Load() > s.maxKeys {
				sh.evict(ns)
				s.keys.Add(-1)
			}
		}
	}
}

// addShard adds shard i to the ascending, duplicate-free list locked.
func addShard(locked []uint8, i uint8) []uint8 {
	for _, j := range locked {
		if j == i {
			return locked
		}
	}
	locked = append(locked, i)
	for j := len(locked) - 1; j > 0 && locked[j-1] > i; j-- {
		locked[j-1], locked[j] = i, locked[j-1]
	}
	return locked
}

// unlockShards unlocks the shards TakeAll locked.
func (s *Store) unlockShards(locked []uint8) {
	for _, i := range locked {
		s.shards[i].mu.Unlock()
	}
}

// storeAfter is store for a state Decide just decided into r: the expiry
// from [halt.Policy.TTLAfter], as Take computes it. It requires sh.mu
// held.
func (sh *shard) storeAfter(e *entry, pos int, p *halt.Policy, st *halt.State, ns int64, r *halt.Result) {
	sh.put(e, pos, p, st)
	e.exp = expiry(ns, p.TTLAfter(st, ns, r))
}

// insertNoEvict is insert without making room: TakeAll evicts afterwards.
// It requires sh.mu held.
func (s *Store) insertNoEvict(sh *shard, h uint64) int {
	s.keys.Add(1)
	return s.addEntry(sh, h)
}

// Peek implements [halt.Peeker]: what Take would answer for key at now,
// without changing anything. It allocates nothing for a token bucket or a
// fixed window.
func (s *Store) Peek(_ context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) (halt.Result, error) {
	h := maphash.Bytes(s.seed, key)
	ns := now.UnixNano()
	sh := &s.shards[h>>s.shift]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s.closed.Load() {
		return halt.Result{}, halt.ErrStoreClosed
	}
	var st halt.State
	if pos := sh.find(h); pos >= 0 {
		st = sh.state(sh.at(pos), p, ns)
	}
	return p.Peek(&st, ns, cost), nil
}

// Reset implements [halt.Resetter]: it forgets key.
func (s *Store) Reset(_ context.Context, key []byte, _ *halt.Policy) error {
	h := maphash.Bytes(s.seed, key)
	sh := &s.shards[h>>s.shift]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s.closed.Load() {
		return halt.ErrStoreClosed
	}
	if pos := sh.find(h); pos >= 0 {
		sh.remove(pos)
		s.keys.Add(-1)
	}
	return nil
}

// Refund implements [halt.Refunder]: it gives cost back to key at now
// ([halt.Policy.Refund]). A key the store does not hold (or holds expired)
// is full already.
func (s *Store) Refund(_ context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) error {
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
		return nil
	}
	e := sh.at(pos)
	if expired(e.exp, ns) || e.tag() != tagOf(p) {
		return nil
	}
	st := sh.state(e, p, ns)
	p.Refund(&st, ns, cost)
	sh.store(e, pos, p, &st, ns)
	return nil
}

// Len returns the number of keys held, expired or not.
func (s *Store) Len() int { return int(s.keys.Load()) }

// Sweep removes the keys expired at now. The background sweep calls it
// with Config.Clock's time every Config.SweepInterval; call it yourself to
// sweep at an instant of your choosing. It holds each shard's lock for a
// bounded batch of entries at a time.
func (s *Store) Sweep(now time.Time) {
	ns := now.UnixNano()
	var removed int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		pos := sh.n - 1
		sh.mu.Unlock()
		// Walk down from the end: removing an entry moves the last one,
		// already looked at, into its place.
		for pos >= 0 {
			sh.mu.Lock()
			pos = min(pos, sh.n-1)
			for stop := max(-1, pos-sweepBatch); pos > stop; pos-- {
				if expired(sh.at(pos).exp, ns) {
					sh.remove(pos)
					removed++
				}
			}
			sh.mu.Unlock()
		}
		sh.mu.Lock()
		sh.shrink()
		sh.mu.Unlock()
	}
	s.keys.Add(-removed)
}

// Close stops the background sweep, waits for it to end and releases the
// keys; Take then returns [halt.ErrStoreClosed]. Close is idempotent and
// always returns nil.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		close(s.stop)
	})
	<-s.done
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		s.keys.Add(-int64(sh.n))
		sh.index, sh.chunks, sh.windows, sh.n, sh.hand = nil, nil, nil, 0, 0
		sh.mu.Unlock()
	}
	return nil
}

func (s *Store) sweeper(tick <-chan time.Time, stopTicker func()) {
	defer close(s.done)
	defer stopTicker()
	for {
		select {
		case <-s.stop:
			return
		case <-tick:
			s.Sweep(s.clock.Now())
		}
	}
}

// insert adds a fresh entry for hash h and returns its position, evicting
// one first when the store is full. It requires sh.mu held.
func (s *Store) insert(sh *shard, h uint64, now int64) int {
	if s.keys.Add(1) > s.maxKeys && sh.n > 0 {
		sh.evict(now)
		s.keys.Add(-1)
	}
	return s.addEntry(sh, h)
}

// addEntry appends a fresh entry for hash h and returns its position. It
// requires sh.mu held.
func (s *Store) addEntry(sh *shard, h uint64) int {
	if (sh.n+1)*4 > len(sh.index)*3 {
		sh.resize(max(minIndex, 2*len(sh.index)))
	}
	pos := sh.n
	c := pos >> chunkBits
	if c == len(sh.chunks) {
		size := chunkSize
		if c == 0 {
			size = firstChunk
		}
		sh.chunks = append(sh.chunks, make([]entry, 0, size))
	}
	chunk := sh.chunks[c]
	if len(chunk) == cap(chunk) { // only the first chunk starts small
		grown := make([]entry, len(chunk), min(chunkSize, 2*cap(chunk)))
		copy(grown, chunk)
		chunk = grown
	}
	sh.chunks[c] = append(chunk, entry{hash: h})
	sh.n++
	sh.place(h, pos)
	return pos
}

// An index slot holds a reference to an entry: its position plus one in
// the low refPosBits bits (a shard holds far fewer entries: MaxMaxKeys over
// 64 shards is 2²² on average), and a fingerprint of its hash above them.
const (
	refPosBits = 24
	refPosMask = 1<<refPosBits - 1
)

// ref is the index slot value for the entry at pos with hash h.
func ref(h uint64, pos int) uint32 { return fingerprint(h)<<refPosBits | uint32(pos+1) }

// fingerprint is 8 bits of h that neither the shard (the top bits) nor an
// index's home slot (the low bits) is chosen by.
func fingerprint(h uint64) uint32 { return uint32(uint8(h >> 32)) }

// at returns the entry at position pos. It requires sh.mu held.
func (sh *shard) at(pos int) *entry {
	return &sh.chunks[pos>>chunkBits][pos&chunkMask]
}

// find returns the position of the entry for hash h, or -1. It requires
// sh.mu held.
func (sh *shard) find(h uint64) int {
	if len(sh.index) == 0 {
		return -1
	}
	mask := uint64(len(sh.index) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		ref := sh.index[i]
		if ref == 0 {
			return -1
		}
		// The entry is read (a likely cache miss among many keys) only
		// when the slot's fingerprint matches: about 1 in 256 others.
		if ref>>refPosBits == fingerprint(h) && sh.at(int(ref&refPosMask)-1).hash == h {
			return int(ref&refPosMask) - 1
		}
	}
}

// place records in the index that hash h is at position pos. It requires
// sh.mu held and a free slot.
func (sh *shard) place(h uint64, pos int) {
	mask := uint64(len(sh.index) - 1)
	i := h & mask
	for sh.index[i] != 0 {
		i = (i + 1) & mask
	}
	sh.index[i] = ref(h, pos)
}

// slot returns the index slot that refers to position pos, whose hash is h.
// It requires sh.mu held.
func (sh *shard) slot(h uint64, pos int) uint64 {
	mask := uint64(len(sh.index) - 1)
	i := h & mask
	for sh.index[i]&refPosMask != uint32(pos+1) {
		i = (i + 1) & mask
	}
	return i
}

// unplace removes the index slot referring to position pos, whose hash is
// h, shifting later slots of the probe run back (no tombstones). It
// requires sh.mu held.
func (sh *shard) unplace(h uint64, pos int) {
	mask := uint64(len(sh.index) - 1)
	i := sh.slot(h, pos)
	for j := (i + 1) & mask; sh.index[j] != 0; j = (j + 1) & mask {
		home := sh.at(int(sh.index[j]&refPosMask)-1).hash & mask
		// The entry at j may fill the hole at i unless its home lies
		// cyclically in (i, j].
		if (j-home)&mask >= (j-i)&mask {
			sh.index[i] = sh.index[j]
			i = j
		}
	}
	sh.index[i] = 0
}

// remove deletes the entry at pos, moving the last entry into its place.
// It requires sh.mu held; the caller adjusts Store.keys.
func (sh *shard) remove(pos int) {
	e := sh.at(pos)
	sh.unplace(e.hash, pos)
	if w := e.win(); w != 0 {
		sh.dropWindow(int(w - 1))
	}
	last := sh.n - 1
	if pos != last {
		le := sh.at(last)
		sh.index[sh.slot(le.hash, last)] = ref(le.hash, pos)
		*e = *le
		if w := e.win(); w != 0 {
			sh.windows[w-1].owner = uint32(pos)
		}
	}
	c := last >> chunkBits
	sh.chunks[c] = sh.chunks[c][:last&chunkMask]
	sh.n--
	// Keep at most one empty chunk at the end, as a spare.
	if len(sh.chunks[c]) == 0 && c+1 < len(sh.chunks) {
		sh.chunks[c+1] = nil
		sh.chunks = sh.chunks[:c+1]
	}
}

// dropWindow deletes windows[w], moving the last window into its place.
// It requires sh.mu held.
func (sh *shard) dropWindow(w int) {
	last := len(sh.windows) - 1
	if w != last {
		sh.windows[w] = sh.windows[last]
		sh.at(int(sh.windows[w].owner)).setWin(uint32(w + 1))
	}
	sh.windows[last] = window{}
	sh.windows = sh.windows[:last]
}

// evict removes one entry to make room: among evictSample entries from the
// hand on, the first expired one, or else the one that expires first. It
// requires sh.mu held and sh.n > 0.
func (sh *shard) evict(now int64) {
	victim, soonest := -1, uint32(math.MaxUint32)
	pos := sh.hand % sh.n
	for range min(evictSample, sh.n) {
		e := sh.at(pos)
		if expired(e.exp, now) {
			victim = pos
			break
		}
		if victim < 0 || e.exp < soonest {
			victim, soonest = pos, e.exp
		}
		pos = (pos + 1) % sh.n
	}
	sh.hand = pos // the next sample starts here (after a removal, with the entry moved in)
	sh.remove(victim)
}

// resize rebuilds the index with size slots (a power of two). It requires
// sh.mu held.
func (sh *shard) resize(size int) {
	sh.index = make([]uint32, size)
	for pos := 0; pos < sh.n; pos++ {
		sh.place(sh.at(pos).hash, pos)
	}
}

// shrink gives memory back after a sweep emptied most of the shard. It
// requires sh.mu held.
func (sh *shard) shrink() {
	if len(sh.index) > minIndex && sh.n*8 < len(sh.index) {
		size := minIndex
		for size < sh.n*2 {
			size *= 2
		}
		sh.resize(size)
	}
	if sh.n == 0 {
		sh.index, sh.chunks, sh.windows, sh.hand = nil, nil, nil, 0
	}
	if cap(sh.windows) > 64 && len(sh.windows)*4 < cap(sh.windows) {
		sh.windows = append([]window(nil), sh.windows...)
	}
}

// expiry is the whole Unix second, rounded up, from which a state decided
// at ns with the given TTL is as good as fresh, clamped to [1, 2³²-1].
func expiry(ns int64, ttl time.Duration) uint32 {
	if int64(ttl) > math.MaxInt64-max(ns, 0) {
		return math.MaxUint32
	}
	end := ns + int64(ttl)
	sec := end / 1e9
	if end%1e9 > 0 {
		sec++
	}
	return uint32(min(max(sec, 1), math.MaxUint32))
}

// expired reports whether an entry with expiry exp is as good as fresh at
// ns. Instants from 2106 on never expire an entry (eviction still bounds
// the store).
func expired(exp uint32, ns int64) bool {
	sec := ns / 1e9
	if ns%1e9 < 0 {
		sec--
	}
	return sec >= int64(exp) && sec < math.MaxUint32
}

// Name returns "memory", the store's name in telemetry (halt.Event.Store).
func (s *Store) Name() string { return "memory" }
