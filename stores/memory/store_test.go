package memory_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
)

var ctx = context.Background()

func newStore(t testing.TB, cfg *memory.Config) *memory.Store {
	t.Helper()
	s := memory.New(cfg)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustTake(t testing.TB, s *memory.Store, key string, p *halt.Policy, at time.Time, cost int64) halt.Result {
	t.Helper()
	r, err := s.Take(ctx, []byte(key), p, at, cost)
	if err != nil {
		t.Fatalf("Take(%q): %v", key, err)
	}
	return r
}

func policies() []halt.Policy {
	return []halt.Policy{
		{Name: "tb", Limit: 10, Window: time.Minute},
		{Name: "fw", Limit: 10, Window: time.Minute, Algorithm: halt.FixedWindow},
		{Name: "sw", Limit: 10, Window: time.Minute, Algorithm: halt.SlidingWindow},
		{Name: "cool", Limit: 1, Window: time.Minute, BlockDuration: time.Hour},
	}
}

func TestTakeExistingKeyAllocatesNothing(t *testing.T) {
	s := newStore(t, nil)
	for _, p := range policies() {
		key := []byte("halt:" + p.Name + ":ip:203.0.113.9")
		now := halttest.Base
		if _, err := s.Take(ctx, key, &p, now, 1); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			now = now.Add(time.Millisecond)
			_, _ = s.Take(ctx, key, &p, now, 1)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Take of an existing key, want 0", p.Name, allocs)
		}
	}
}

func TestHammerOneKeyAdmitsExactlyTheBurst(t *testing.T) {
	// 64 goroutines x 20 requests at one instant on one key: exactly the
	// burst passes, for every algorithm, while other keys churn beside it.
	for _, p := range []halt.Policy{
		{Name: "tb", Limit: 100, Window: time.Hour, Burst: 150},
		{Name: "fw", Limit: 150, Window: time.Hour, Algorithm: halt.FixedWindow},
		{Name: "sw", Limit: 150, Window: time.Hour, Algorithm: halt.SlidingWindow},
	} {
		t.Run(p.Algorithm.String(), func(t *testing.T) {
			s := newStore(t, nil)
			key := []byte("halt:" + p.Name + ":ip:198.51.100.20")
			var admitted atomic.Int64
			var wg sync.WaitGroup
			for w := range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					other := []byte("halt:" + p.Name + ":ip:other-" + strconv.Itoa(w) + "-")
					for i := range 20 {
						r, err := s.Take(ctx, key, &p, halttest.Base, 1)
						if err != nil {
							t.Error(err)
							return
						}
						if r.Allowed {
							admitted.Add(1)
						}
						if _, err := s.Take(ctx, strconv.AppendInt(other, int64(i), 10), &p, halttest.Base, 1); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if got := admitted.Load(); got != 150 {
				t.Fatalf("admitted %d, want exactly the burst, 150", got)
			}
			if got := s.Len(); got != 1+64*20 {
				t.Fatalf("Len() = %d, want %d", got, 1+64*20)
			}
		})
	}
}

func TestMaxKeysBoundsAFloodOfDistinctKeys(t *testing.T) {
	const maxKeys, flood = 5_000, 100_000
	p := halt.Policy{Name: "flood", Limit: 5, Window: time.Hour}
	s := newStore(t, &memory.Config{MaxKeys: maxKeys})
	before := heapAlloc()
	key := append(make([]byte, 0, 64), "halt:flood:ip:"...)
	now := halttest.Base
	for i := range flood {
		now = now.Add(time.Microsecond)
		k := strconv.AppendInt(key, int64(i), 10)
		if r := mustTake(t, s, string(k), &p, now, 1); !r.Allowed {
			t.Fatalf("key %d: a fresh key was refused: %+v", i, r)
		}
		if i%50_000 == 0 && s.Len() > maxKeys {
			t.Fatalf("after %d keys Len() = %d, want <= %d", i+1, s.Len(), maxKeys)
		}
	}
	if got := s.Len(); got > maxKeys || got < maxKeys-s.Shards() {
		t.Fatalf("Len() = %d, want about MaxKeys (%d)", got, maxKeys)
	}
	grown := int64(heapAlloc()) - int64(before)
	// 5,000 keys at about 50 bytes: well under 1 MB whatever the flood.
	if grown > 1<<20 {
		t.Fatalf("the heap grew by %d bytes for at most %d keys", grown, maxKeys)
	}
	runtime.KeepAlive(s)
	// The newest keys are held, with their state.
	last := string(strconv.AppendInt(key, flood-1, 10))
	if r := mustTake(t, s, last, &p, now, 1); r.Remaining != 3 {
		t.Fatalf("the newest key lost its state: %+v", r)
	}
}

func TestEvictionChoosesTheKeyExpiringFirst(t *testing.T) {
	// With MaxKeys 8 there is one shard and the eviction sample covers it
	// all: a new key evicts the expired key, or else the one expiring first.
	s := newStore(t, &memory.Config{MaxKeys: 8})
	if s.Shards() != 1 {
		t.Fatalf("Shards() = %d, want 1", s.Shards())
	}
	pol := make([]halt.Policy, 8)
	for i := range pol {
		// TTLs of 20 s, 30 s, ... 90 s (plus the second of margin).
		pol[i] = halt.Policy{Name: "p" + strconv.Itoa(i), Limit: 2, Window: time.Duration(2*i+4) * 10 * time.Second}
		mustTake(t, s, pol[i].Name, &pol[i], halttest.Base, 1)
	}
	// Key p3 (TTL 51 s) is taken again at +39 s and now expires last (+101 s).
	mustTake(t, s, "p3", &pol[3], halttest.Base.Add(39*time.Second), 1)
	extra := halt.Policy{Name: "extra", Limit: 2, Window: time.Hour}
	evicted := func(name string) bool {
		// Reads consume: use cost 2 on a fresh key which succeeds only when
		// the key was forgotten (a held key has at most one token left).
		return mustTake(t, s, name, &pol[name[1]-'0'], halttest.Base.Add(40*time.Second), 2).Allowed
	}
	// At +40 s, p0 (expiry +21 s) and p1 (+31 s) have expired.
	mustTake(t, s, "x1", &extra, halttest.Base.Add(40*time.Second), 1)
	mustTake(t, s, "x2", &extra, halttest.Base.Add(40*time.Second), 1)
	// Now the live ones go in expiry order: p2 (+41 s), p4 (+61 s).
	mustTake(t, s, "x3", &extra, halttest.Base.Add(40*time.Second), 1)
	mustTake(t, s, "x4", &extra, halttest.Base.Add(40*time.Second), 1)
	if s.Len() != 8 {
		t.Fatalf("Len() = %d, want 8", s.Len())
	}
	for _, name := range []string{"p5", "p6", "p7", "p3"} {
		if evicted(name) {
			t.Errorf("%s was evicted, but later-expiring keys were held", name)
		}
	}
}

func TestSweepRemovesExpiredKeys(t *testing.T) {
	s := newStore(t, nil)
	short := halt.Policy{Name: "short", Limit: 1, Window: time.Second}
	slide := halt.Policy{Name: "slide", Limit: 4, Window: 2 * time.Second, Algorithm: halt.SlidingWindow, Precision: 4}
	long := halt.Policy{Name: "long", Limit: 5, Window: time.Hour}
	for i := range 3000 {
		k := strconv.Itoa(i)
		switch i % 3 {
		case 0:
			mustTake(t, s, "short:"+k, &short, halttest.Base, 1)
		case 1:
			mustTake(t, s, "slide:"+k, &slide, halttest.Base, 1)
		default:
			mustTake(t, s, "long:"+k, &long, halttest.Base, 1)
		}
	}
	s.Sweep(halttest.Base.Add(time.Second))
	if got := s.Len(); got != 3000 {
		t.Fatalf("a sweep at +1 s removed live keys: Len() = %d, want 3000", got)
	}
	s.Sweep(halttest.Base.Add(time.Minute))
	if got := s.Len(); got != 1000 {
		t.Fatalf("after a sweep at +1 min, Len() = %d, want the 1000 long-lived keys", got)
	}
	// The survivors kept their state: one of five taken.
	for i := 2; i < 3000; i += 3 {
		if r := mustTake(t, s, "long:"+strconv.Itoa(i), &long, halttest.Base.Add(time.Minute), 1); r.Remaining != 3 {
			t.Fatalf("long:%d lost its state: %+v", i, r)
		}
	}
	// Sliding keys come back fresh and count correctly.
	k := "slide:1"
	for i := int64(0); i < 4; i++ {
		if r := mustTake(t, s, k, &slide, halttest.Base.Add(time.Hour), 1); !r.Allowed || r.Remaining != 3-i {
			t.Fatalf("take %d of a swept sliding key: %+v", i, r)
		}
	}
	if r := mustTake(t, s, k, &slide, halttest.Base.Add(time.Hour), 1); r.Allowed {
		t.Fatalf("fifth take of a limit of 4 allowed: %+v", r)
	}
	s.Sweep(halttest.Base.Add(1000 * time.Hour))
	if got := s.Len(); got != 0 {
		t.Fatalf("after everything expired, Len() = %d, want 0", got)
	}
}

func TestBackgroundSweepUsesTheConfiguredClock(t *testing.T) {
	clock := halttest.NewClock(halttest.Base)
	tick := make(chan time.Time) // unbuffered: a second send waits for the first sweep
	s := memory.NewWithTick(&memory.Config{Clock: clock}, tick)
	defer s.Close()
	p := halt.Policy{Name: "bg", Limit: 1, Window: time.Second}
	for i := range 100 {
		mustTake(t, s, "k"+strconv.Itoa(i), &p, halttest.Base, 1)
	}
	tick <- time.Time{}
	tick <- time.Time{}
	if got := s.Len(); got != 100 {
		t.Fatalf("swept live keys: Len() = %d, want 100", got)
	}
	clock.Advance(time.Minute)
	tick <- time.Time{}
	tick <- time.Time{}
	if got := s.Len(); got != 0 {
		t.Fatalf("the background sweep left expired keys: Len() = %d, want 0", got)
	}
}

func TestCloseStopsTheSweeperAndTake(t *testing.T) {
	before := sweepers()
	s := memory.New(&memory.Config{SweepInterval: time.Millisecond})
	if got := waitSweepers(before + 1); got != before+1 {
		t.Fatalf("%d sweeper goroutines after New, want %d", got, before+1)
	}
	p := halt.Policy{Name: "close", Limit: 1, Window: time.Minute}
	mustTake(t, s, "k", &p, halttest.Base, 1)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close waits for the sweeper to return; it may take an instant more
	// to leave the goroutine's last deferred call.
	if got := waitSweepers(before); got != before {
		t.Fatalf("%d sweeper goroutines after Close, want %d", got, before)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Take(ctx, []byte("k"), &p, halttest.Base, 1); !errors.Is(err, halt.ErrStoreClosed) {
		t.Fatalf("Take after Close: err = %v, want halt.ErrStoreClosed", err)
	}
	if s.Len() != 0 {
		t.Fatalf("Len() after Close = %d, want 0", s.Len())
	}
	s.Sweep(halttest.Base) // harmless
}

func TestCloseConcurrentWithTake(t *testing.T) {
	s := memory.New(nil)
	p := halt.Policy{Name: "race", Limit: 1000, Window: time.Minute}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				_, err := s.Take(ctx, []byte(strconv.Itoa(w*1_000_000+i)), &p, halttest.Base, 1)
				if errors.Is(err, halt.ErrStoreClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for s.Len() < 1000 {
		runtime.Gosched()
	}
	_ = s.Close()
	wg.Wait()
	_ = s.Close()
}

func TestMemoryPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts a million keys")
	}
	n := 1_000_000
	if raceEnabled {
		n = 100_000
	}
	perKey := bytesPerKey(t, n)
	t.Logf("%.1f bytes per key after %d keys", perKey, n)
	if perKey > 64 {
		t.Fatalf("%.1f bytes per key after %d keys, want at most 64", perKey, n)
	}
}

func BenchmarkMemoryPerKey(b *testing.B) {
	var perKey float64
	for range b.N {
		perKey = bytesPerKey(b, 1_000_000)
	}
	b.ReportMetric(perKey, "bytes/key")
}

// bytesPerKey measures the live heap a store holds per key after storing n
// keys like "ip-%d".
func bytesPerKey(t testing.TB, n int) float64 {
	t.Helper()
	before := heapAlloc()
	s := memory.New(&memory.Config{MaxKeys: 2 * n})
	p := halt.Policy{Name: "mem", Limit: 100, Window: time.Minute}
	key := append(make([]byte, 0, 32), "ip-"...)
	for i := range n {
		if _, err := s.Take(ctx, strconv.AppendInt(key, int64(i), 10), &p, halttest.Base, 1); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != n {
		t.Fatalf("Len() = %d, want %d", s.Len(), n)
	}
	after := heapAlloc()
	runtime.KeepAlive(s)
	_ = s.Close()
	return float64(int64(after)-int64(before)) / float64(n)
}

func heapAlloc() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// sweepers counts the goroutines running a Store's sweeper.
func sweepers() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("memory.(*Store).sweeper("))
}

// waitSweepers waits up to ten seconds for the number of sweepers to
// become want (a goroutine takes a moment to start and to end), and
// returns the last count.
func waitSweepers(want int) int {
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := sweepers()
		if got == want || time.Now().After(deadline) {
			return got
		}
		runtime.Gosched()
	}
}

// A typed-nil store is refused by halt.New instead of panicking on the
// first request (Core v2, defect 3).
func TestTypedNilStoreRefused(t *testing.T) {
	var s *memory.Store
	if _, err := halt.New(s, halt.Policy{Name: "n", Limit: 1, Window: time.Minute}); err == nil {
		t.Fatal("halt.New accepted a nil *memory.Store")
	}
}

// State is tagged with its version and algorithm: a policy whose algorithm
// changes under the same name starts on a fresh state instead of misreading
// the old one.
func TestStateTaggedByAlgorithm(t *testing.T) {
	s := newStore(t, nil)
	tb := halt.Policy{Name: "same", Limit: 3, Window: time.Minute}
	fw := tb
	fw.Algorithm = halt.FixedWindow
	at := halttest.Base
	for i := 0; i < 3; i++ {
		mustTake(t, s, "k", &tb, at, 1)
	}
	if r := mustTake(t, s, "k", &tb, at, 1); r.Allowed {
		t.Fatal("token bucket: fourth request allowed")
	}
	// The token bucket's stamp (an instant) would be a huge window index
	// to the fixed window: read as fresh instead.
	if r := mustTake(t, s, "k", &fw, at, 1); !r.Allowed || r.Remaining != 2 {
		t.Fatalf("fixed window on a token bucket's state: %+v, want a fresh key", r)
	}
	if s.Len() != 1 {
		t.Fatalf("Len %d", s.Len())
	}
	if err := s.Reset(ctx, []byte("k"), &fw); err != nil || s.Len() != 0 {
		t.Fatalf("Reset: %v, Len %d", err, s.Len())
	}
}
