package memory

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
	"unsafe"

	halt "github.com/halt-go/halt/core"
)

var base = time.Unix(1_800_000_000, 0)

func TestLayout(t *testing.T) {
	if got := unsafe.Sizeof(entry{}); got != 40 {
		t.Errorf("entry is %d bytes, want 40", got)
	}
	if got := unsafe.Sizeof(shard{}); got%64 != 0 {
		t.Errorf("shard is %d bytes, want a multiple of a 64-byte cache line", got)
	}
}

func TestShardCount(t *testing.T) {
	for _, c := range []struct{ maxKeys, shards int }{
		{1, 1}, {127, 1}, {128, 2}, {1000, 8}, {4095, 32}, {4096, 64}, {0, 64}, {1 << 40, 64},
	} {
		s := New(&Config{MaxKeys: c.maxKeys})
		if len(s.shards) != c.shards {
			t.Errorf("MaxKeys %d: %d shards, want %d", c.maxKeys, len(s.shards), c.shards)
		}
		_ = s.Close()
	}
}

func TestExpiry(t *testing.T) {
	for _, c := range []struct {
		ns  int64
		ttl time.Duration
		exp uint32
	}{
		{0, 0, 1},
		{-5e9, time.Second, 1},
		{1e9, time.Second, 2},
		{1e9 + 1, time.Second, 3},
		{1_800_000_000e9, 1500 * time.Millisecond, 1_800_000_002},
		{1_800_000_000e9, math.MaxInt64, math.MaxUint32},
		{math.MaxInt64 - 10, time.Second, math.MaxUint32},
	} {
		if got := expiry(c.ns, c.ttl); got != c.exp {
			t.Errorf("expiry(%d, %v) = %d, want %d", c.ns, c.ttl, got, c.exp)
		}
	}
	for _, c := range []struct {
		exp  uint32
		ns   int64
		want bool
	}{
		{2, 1_999_999_999, false},
		{2, 2e9, true},
		{1, -1, false},
		{1, -5e9, false},
		{math.MaxUint32, math.MaxUint32 * 1e9, false}, // 2106 and later never expire
		{5, math.MaxInt64, false},
	} {
		if got := expired(c.exp, c.ns); got != c.want {
			t.Errorf("expired(%d, %d) = %v, want %v", c.exp, c.ns, got, c.want)
		}
	}
}

// TestMatchesAReferenceModel runs random traffic over thousands of keys of
// every algorithm, with idle gaps and sweeps, and checks every result
// against Policy.Decide on a plain map of states that never forgets: reusing
// and sweeping expired entries must change no decision. The shard
// invariants are checked after every sweep.
func TestMatchesAReferenceModel(t *testing.T) {
	pols := []halt.Policy{
		{Name: "tb", Limit: 5, Window: 2 * time.Second, Burst: 8},
		{Name: "fw", Limit: 4, Window: time.Second, Algorithm: halt.FixedWindow},
		{Name: "sw", Limit: 6, Window: 3 * time.Second, Algorithm: halt.SlidingWindow, Precision: 6},
		{Name: "sw3", Limit: 3, Window: 900 * time.Millisecond, Algorithm: halt.SlidingWindow, Precision: 3},
		{Name: "cool", Limit: 2, Window: time.Second, BlockDuration: 4 * time.Second},
	}
	s := New(nil)
	defer s.Close()
	ref := map[string]*halt.State{}
	rng := rand.New(rand.NewPCG(1, 2))
	now := base
	steps := 100_000
	if testing.Short() {
		steps = 20_000
	}
	for i := range steps {
		switch r := rng.IntN(1000); {
		case r < 3:
			now = now.Add(time.Duration(rng.IntN(20)) * time.Second) // idle: keys expire
		case r < 5:
			s.Sweep(now)
			checkInvariants(t, s)
		default:
			now = now.Add(time.Duration(rng.IntN(3_000_000)))
		}
		p := &pols[rng.IntN(len(pols))]
		key := p.Name + ":" + strconv.Itoa(rng.IntN(3000))
		cost := int64(1 + rng.IntN(int(p.Capacity())))
		if rng.IntN(4) > 0 {
			cost = 1
		}
		st := ref[key]
		if st == nil {
			st = &halt.State{}
			ref[key] = st
		}
		want := p.Decide(st, now.UnixNano(), cost)
		got, err := s.Take(context.Background(), []byte(key), p, now, cost)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("step %d, %s cost %d at %v: got %+v, want %+v", i, key, cost, now.Sub(base), got, want)
		}
	}
	s.Sweep(now.Add(time.Hour))
	checkInvariants(t, s)
	if s.Len() != 0 {
		t.Fatalf("Len() = %d after sweeping everything", s.Len())
	}
}

// TestEvictionKeepsTheShardsConsistent churns far more keys than MaxKeys,
// sliding windows included, and checks the invariants and the bound.
func TestEvictionKeepsTheShardsConsistent(t *testing.T) {
	pols := []halt.Policy{
		{Name: "tb", Limit: 5, Window: time.Minute},
		{Name: "sw", Limit: 6, Window: 3 * time.Second, Algorithm: halt.SlidingWindow, Precision: 3},
	}
	for _, maxKeys := range []int{1, 7, 300, 5000} {
		s := New(&Config{MaxKeys: maxKeys})
		rng := rand.New(rand.NewPCG(uint64(maxKeys), 3))
		now := base
		for i := range 40_000 {
			now = now.Add(time.Duration(rng.IntN(1_000_000)))
			p := &pols[rng.IntN(len(pols))]
			key := p.Name + ":" + strconv.Itoa(rng.IntN(4*maxKeys+10))
			if _, err := s.Take(context.Background(), []byte(key), p, now, 1); err != nil {
				t.Fatal(err)
			}
			if i%5000 == 0 {
				checkInvariants(t, s)
				if s.Len() > maxKeys+len(s.shards)-1 {
					t.Fatalf("MaxKeys %d: Len() = %d", maxKeys, s.Len())
				}
			}
		}
		checkInvariants(t, s)
		if s.Len() > maxKeys+len(s.shards)-1 {
			t.Fatalf("MaxKeys %d: Len() = %d", maxKeys, s.Len())
		}
		s.Sweep(now.Add(time.Hour))
		checkInvariants(t, s)
		_ = s.Close()
	}
}

// checkInvariants verifies every shard's index, chunks and windows.
func checkInvariants(t *testing.T, s *Store) {
	t.Helper()
	total := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		total += sh.n
		for c, chunk := range sh.chunks {
			switch {
			case c < sh.n>>chunkBits && len(chunk) != chunkSize:
				t.Fatalf("shard %d: chunk %d holds %d entries, want %d", i, c, len(chunk), chunkSize)
			case c == sh.n>>chunkBits && len(chunk) != sh.n&chunkMask:
				t.Fatalf("shard %d: last chunk %d holds %d entries, want %d", i, c, len(chunk), sh.n&chunkMask)
			case c > sh.n>>chunkBits && (len(chunk) != 0 || c > sh.n>>chunkBits+1):
				t.Fatalf("shard %d: chunk %d beyond the end", i, c)
			}
		}
		if sh.n > 0 && sh.n*4 > len(sh.index)*3 {
			t.Fatalf("shard %d: %d entries in an index of %d", i, sh.n, len(sh.index))
		}
		refs := 0
		for _, r := range sh.index {
			if r == 0 {
				continue
			}
			refs++
			if pos := int(r&refPosMask) - 1; pos >= sh.n || r>>refPosBits != fingerprint(sh.at(pos).hash) {
				t.Fatalf("shard %d: index slot %#x does not match entry %d", i, r, pos)
			}
		}
		if refs != sh.n {
			t.Fatalf("shard %d: %d index slots used for %d entries", i, refs, sh.n)
		}
		wins := 0
		for pos := 0; pos < sh.n; pos++ {
			e := sh.at(pos)
			if sh.find(e.hash) != pos {
				t.Fatalf("shard %d: entry %d not found at its position (%d)", i, pos, sh.find(e.hash))
			}
			if e.hash>>s.shift != uint64(i) {
				t.Fatalf("shard %d: entry %d belongs to shard %d", i, pos, e.hash>>s.shift)
			}
			if e.win() != 0 {
				wins++
				if int(e.win()) > len(sh.windows) || sh.windows[e.win()-1].owner != uint32(pos) {
					t.Fatalf("shard %d: entry %d has a stray window %d", i, pos, e.win())
				}
			}
		}
		if wins != len(sh.windows) {
			t.Fatalf("shard %d: %d windows for %d sliding entries", i, len(sh.windows), wins)
		}
		sh.mu.Unlock()
	}
	if total != s.Len() {
		t.Fatalf("shards hold %d entries, Len() = %d", total, s.Len())
	}
}

// TestAddShard: TakeAll's list of shards to lock stays ascending and
// without duplicates, whatever the order the keys come in.
func TestAddShard(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		var locked []uint8
		seen := map[uint8]bool{}
		for range 1 + rng.IntN(8) {
			i := uint8(rng.IntN(6))
			locked = addShard(locked, i)
			seen[i] = true
		}
		if len(locked) != len(seen) || !slices.IsSorted(locked) {
			t.Fatalf("locked %v, want the %d shards %v in order", locked, len(seen), seen)
		}
		for i := 1; i < len(locked); i++ {
			if locked[i] == locked[i-1] {
				t.Fatalf("locked %v has a duplicate", locked)
			}
		}
	}
}
