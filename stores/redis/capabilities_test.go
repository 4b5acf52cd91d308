package haltredis_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// decodeValue reads a stored value: the version byte, then little-endian
// doubles.
func decodeValue(t *testing.T, v string) (version byte, fields []float64) {
	t.Helper()
	if len(v) < 1 || (len(v)-1)%8 != 0 {
		t.Fatalf("value of %d bytes, want 1 + 8k", len(v))
	}
	for i := 1; i < len(v); i += 8 {
		fields = append(fields, math.Float64frombits(binary.LittleEndian.Uint64([]byte(v[i:i+8]))))
	}
	return v[0], fields
}

// TestKeyLayout: the Redis key is the prefix, the limiter's key as it is
// and the algorithm's suffix, so on a Cluster every policy of one client
// (per-route ones included) hashes to the slot of its client's hash tag;
// values are the version byte and the state's doubles.
func TestKeyLayout(t *testing.T) {
	clients := map[string]func(testing.TB) redis.UniversalClient{
		"Standalone": func(t testing.TB) redis.UniversalClient { return standalone(t) },
		"Cluster":    func(t testing.TB) redis.UniversalClient { return cluster(t) },
	}
	for name, newClient := range clients {
		t.Run(name, func(t *testing.T) {
			c := newClient(t)
			ctx := context.Background()
			prefix := freshPrefix("layout")
			s := newStore(t, c, haltredis.WithCallerClock(), haltredis.WithTimeout(suiteTimeout), haltredis.WithPrefix(prefix))
			clock := halttest.NewClock(halttest.Base)
			req := &halttest.FakeRequest{Peer: "203.0.113.7:4242", RoutePattern: "GET /items/{id}"}
			tag := "ip:203.0.113.7"
			cases := []struct {
				p      halt.Policy
				suffix string
				want   []float64 // the state after one request at Base
			}{
				{halt.Policy{Name: "tb", Limit: 10, Window: time.Minute}, "",
					[]float64{float64(halttest.Base.UnixMicro()), 9, 0}},
				{halt.Policy{Name: "fw", Limit: 10, Window: time.Minute, Algorithm: halt.FixedWindow}, ":fw60000000",
					[]float64{float64(halttest.Base.Unix() / 60), 1, 0}},
				{halt.Policy{Name: "sw", Limit: 10, Window: time.Minute, Algorithm: halt.SlidingWindow, Precision: 4,
					PerRoute: true}, ":sw60000000.4",
					[]float64{float64(halttest.Base.Unix() / 15), 0, 0, 0, 0, 0}},
			}
			cases[2].want[2+(halttest.Base.Unix()/15)%4] = 1
			slot := int64(-1)
			if cc, ok := c.(*redis.ClusterClient); ok {
				var err error
				if slot, err = cc.ClusterKeySlot(ctx, tag).Result(); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range cases {
				l, err := halt.New(s, tc.p, halt.WithClock(clock), halt.WithTelemetry(halt.NopTelemetry{}))
				if err != nil {
					t.Fatal(err)
				}
				if d, err := l.Check(ctx, req); err != nil || !d.Allowed {
					t.Fatalf("%s: %+v, %v", tc.p.Name, d, err)
				}
				key := l.Key(req)
				if strings.Count(key, "{") != 1 || !strings.HasSuffix(key, "{"+tag+"}") {
					t.Fatalf("%s: the limiter's key %q has not one hash tag around the client", tc.p.Name, key)
				}
				rk := prefix + key + tc.suffix
				v, err := c.Get(ctx, rk).Result()
				if err != nil {
					t.Fatalf("%s: GET %q: %v", tc.p.Name, rk, err)
				}
				ver, fields := decodeValue(t, v)
				if ver != 1 || fmt.Sprint(fields) != fmt.Sprint(tc.want) {
					t.Fatalf("%s: value version %d, %v; want version 1, %v", tc.p.Name, ver, fields, tc.want)
				}
				if cc, ok := c.(*redis.ClusterClient); ok {
					if got, err := cc.ClusterKeySlot(ctx, rk).Result(); err != nil || got != slot {
						t.Fatalf("%s: %q is in slot %d (%v), want its client's slot %d", tc.p.Name, rk, got, err, slot)
					}
				}
			}
			// A key without braces, passed to Take directly, is hashed by
			// its whole name: it works, on a Cluster too.
			p := halt.Policy{Name: "plain", Limit: 2, Window: time.Minute}
			for i := range 3 {
				r, err := s.Take(ctx, []byte("plain-key-"+prefix), &p, halttest.Base, 1)
				if err != nil || r.Allowed != (i < 2) {
					t.Fatalf("brace-less key, take %d: %+v, %v", i, r, err)
				}
			}
		})
	}
}

// TestOtherLayoutsReadAsNew: a value of another length or version (the
// unversioned layout of earlier releases, a later version) is a key never
// seen for Take and Peek, and Refund leaves it as it is.
func TestOtherLayoutsReadAsNew(t *testing.T) {
	c := standalone(t)
	ctx := context.Background()
	prefix := freshPrefix("layouts")
	s := newStore(t, c, haltredis.WithCallerClock(), haltredis.WithTimeout(suiteTimeout), haltredis.WithPrefix(prefix))
	doubles := func(version int, xs ...float64) string {
		var b []byte
		if version >= 0 {
			b = append(b, byte(version))
		}
		for _, x := range xs {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
		return string(b)
	}
	now := halttest.Base
	for _, alg := range []halt.Algorithm{halt.TokenBucket, halt.FixedWindow, halt.SlidingWindow} {
		p := halt.Policy{Name: "layouts-" + alg.String(), Limit: 3, Window: time.Minute, Algorithm: alg, Precision: 2}
		// Each holds a full limit's use, which a misread would show.
		var state []float64
		switch alg {
		case halt.TokenBucket:
			state = []float64{float64(now.UnixMicro()), 0, 0}
		case halt.FixedWindow:
			state = []float64{float64(now.Unix() / 60), 3, 0}
		default:
			j := float64(now.Unix() / 30)
			state = []float64{j, 0, 3, 3}
		}
		suffix := map[halt.Algorithm]string{halt.FixedWindow: ":fw60000000", halt.SlidingWindow: ":sw60000000.2"}[alg]
		for _, v := range []string{doubles(-1, state...), doubles(2, state...), doubles(1, state[:len(state)-1]...)} {
			key := []byte("halt:" + p.Name + ":{ip:203.0.113.8}")
			rk := prefix + string(key) + suffix
			if err := c.Set(ctx, rk, v, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			if err := s.Refund(ctx, key, &p, now, 1); err != nil {
				t.Fatal(err)
			}
			if got, err := c.Get(ctx, rk).Result(); err != nil || got != v {
				t.Fatalf("%v: Refund changed a value of another layout (%d bytes): %v", alg, len(v), err)
			}
			if r, err := s.Peek(ctx, key, &p, now, 1); err != nil || !r.Allowed || r.Remaining != 3 {
				t.Fatalf("%v: Peek of a value of another layout (%d bytes): %+v, %v; want a key never seen", alg, len(v), r, err)
			}
			if r, err := s.Take(ctx, key, &p, now, 1); err != nil || !r.Allowed || r.Remaining != 2 {
				t.Fatalf("%v: Take of a value of another layout (%d bytes): %+v, %v; want a key never seen", alg, len(v), r, err)
			}
			if got, err := c.Get(ctx, rk).Result(); err != nil || got[0] != 1 {
				t.Fatalf("%v: the value was not rewritten in version 1: %q, %v", alg, got, err)
			}
		}
	}
}

// TestPeekWritesNothing: Peek neither creates a key nor changes one, nor
// its TTL, whatever it finds: a key never seen, sub-windows that moved on,
// a limited key whose policy has a cooldown.
func TestPeekWritesNothing(t *testing.T) {
	c := standalone(t)
	ctx := context.Background()
	prefix := freshPrefix("peek")
	s := newStore(t, c, haltredis.WithCallerClock(), haltredis.WithTimeout(suiteTimeout), haltredis.WithPrefix(prefix))
	for _, alg := range []halt.Algorithm{halt.TokenBucket, halt.FixedWindow, halt.SlidingWindow} {
		p := halt.Policy{Name: "peeknothing-" + alg.String(), Limit: 2, Window: time.Minute, Algorithm: alg,
			Precision: 6, BlockDuration: time.Hour}
		key := []byte("halt:" + p.Name + ":{ip:203.0.113.9}")
		if _, err := s.Peek(ctx, key, &p, halttest.Base, 1); err != nil {
			t.Fatal(err)
		}
		keys, err := c.Keys(ctx, prefix+"halt:"+p.Name+"*").Result()
		if err != nil || len(keys) != 0 {
			t.Fatalf("%v: Peek of a key never seen created %v (%v)", alg, keys, err)
		}
		for range 2 {
			if r, err := s.Take(ctx, key, &p, halttest.Base, 1); err != nil || !r.Allowed {
				t.Fatalf("%v: %+v, %v", alg, r, err)
			}
		}
		keys, err = c.Keys(ctx, prefix+"halt:"+p.Name+"*").Result()
		if err != nil || len(keys) != 1 {
			t.Fatalf("%v: keys %v (%v)", alg, keys, err)
		}
		before, _ := c.Get(ctx, keys[0]).Result()
		ttl, _ := c.PTTL(ctx, keys[0]).Result()
		for _, at := range []time.Duration{0, 10 * time.Second, 30 * time.Second, 2 * time.Minute} {
			for _, cost := range []int64{1, 2, 3} {
				if _, err := s.Peek(ctx, key, &p, halttest.Base.Add(at), cost); err != nil {
					t.Fatal(err)
				}
			}
		}
		after, _ := c.Get(ctx, keys[0]).Result()
		ttl2, _ := c.PTTL(ctx, keys[0]).Result()
		if after != before || ttl2 > ttl {
			t.Fatalf("%v: Peek changed the key (TTL %v then %v)", alg, ttl, ttl2)
		}
		if r, err := s.Take(ctx, key, &p, halttest.Base, 1); err != nil || r.Reason != halt.ReasonCooldown {
			t.Fatalf("%v: the take after the peeks: %+v, %v; want the cooldown it starts", alg, r, err)
		}
	}
}

// TestRefundTTL: a refund writes the state with core's Policy.TTL at the
// refund's instant.
func TestRefundTTL(t *testing.T) {
	c := standalone(t)
	ctx := context.Background()
	prefix := freshPrefix("refundttl")
	s := newStore(t, c, haltredis.WithCallerClock(), haltredis.WithTimeout(suiteTimeout), haltredis.WithPrefix(prefix))
	cases := []struct {
		p      halt.Policy
		suffix string
		takes  int64
		at     time.Duration // of the refund
		cost   int64
	}{
		{halt.Policy{Name: "tb", Limit: 10, Window: 10 * time.Minute}, "", 6, time.Minute, 2},
		{halt.Policy{Name: "tbcool", Limit: 2, Window: time.Minute, BlockDuration: time.Hour}, "", 3, time.Second, 1},
		{halt.Policy{Name: "fw", Limit: 10, Window: time.Hour, Algorithm: halt.FixedWindow}, ":fw3600000000", 6, 10 * time.Minute, 2},
		{halt.Policy{Name: "fwempty", Limit: 10, Window: time.Hour, Algorithm: halt.FixedWindow}, ":fw3600000000", 2, 10 * time.Minute, 5},
		{halt.Policy{Name: "sw", Limit: 10, Window: time.Hour, Algorithm: halt.SlidingWindow, Precision: 4},
			":sw3600000000.4", 6, 20 * time.Minute, 2},
		{halt.Policy{Name: "swcool", Limit: 2, Window: time.Minute, Algorithm: halt.SlidingWindow, Precision: 2,
			BlockDuration: time.Hour}, ":sw60000000.2", 3, 40 * time.Second, 1},
	}
	for _, tc := range cases {
		p := tc.p
		p.Name = "refundttl-" + p.Name
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		key := []byte("halt:" + p.Name + ":{ip:203.0.113.10}")
		var st halt.State
		for range tc.takes {
			p.Decide(&st, halttest.Base.UnixNano(), 1)
			if _, err := s.Take(ctx, key, &p, halttest.Base, 1); err != nil {
				t.Fatal(err)
			}
		}
		now := halttest.Base.Add(tc.at)
		p.Refund(&st, now.UnixNano(), tc.cost)
		want := p.TTL(&st, now.UnixNano())
		if err := s.Refund(ctx, key, &p, now, tc.cost); err != nil {
			t.Fatal(err)
		}
		got, err := c.PTTL(ctx, prefix+string(key)+tc.suffix).Result()
		if err != nil {
			t.Fatal(err)
		}
		// PX is whole milliseconds rounded up; real time passes meanwhile.
		if got > want+time.Millisecond || got < want-200*time.Millisecond {
			t.Fatalf("%s: TTL after the refund %v, want core's %v", p.Name, got, want)
		}
	}
}

// TestRefundAndResetDropCache: the over-limit cache forgets a key that was
// refunded or reset, so the next take asks Redis.
func TestRefundAndResetDropCache(t *testing.T) {
	c := standalone(t)
	ctx := context.Background()
	s := newStore(t, c, haltredis.WithCallerClock(), haltredis.WithTimeout(suiteTimeout), haltredis.WithPrefix(freshPrefix("dropcache")))
	for _, alg := range []halt.Algorithm{halt.TokenBucket, halt.FixedWindow, halt.SlidingWindow} {
		p := halt.Policy{Name: "dropcache-" + alg.String(), Limit: 2, Window: time.Hour, Algorithm: alg}
		key := []byte("halt:" + p.Name + ":{ip:203.0.113.11}")
		take := func() halt.Result {
			t.Helper()
			r, err := s.Take(ctx, key, &p, halttest.Base, 1)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		take()
		take()
		if r := take(); r.Allowed || s.CacheLen() != 1 {
			t.Fatalf("%v: third take %+v, cache %d; want blocked and cached", alg, r, s.CacheLen())
		}
		if err := s.Refund(ctx, key, &p, halttest.Base, 1); err != nil {
			t.Fatal(err)
		}
		if s.CacheLen() != 0 {
			t.Fatalf("%v: the refunded key is still cached", alg)
		}
		if r := take(); !r.Allowed {
			t.Fatalf("%v: after a refund: %+v, want admitted", alg, r)
		}
		if r := take(); r.Allowed || s.CacheLen() != 1 {
			t.Fatalf("%v: %+v, cache %d; want blocked and cached", alg, r, s.CacheLen())
		}
		if err := s.Reset(ctx, key, &p); err != nil {
			t.Fatal(err)
		}
		if s.CacheLen() != 0 {
			t.Fatalf("%v: the reset key is still cached", alg)
		}
		if r := take(); !r.Allowed || r.Remaining != 1 {
			t.Fatalf("%v: after a reset: %+v, want a fresh key", alg, r)
		}
	}
}

// TestDownWithoutLimiter: a store used on its own (no limiter registered a
// sink) logs its notices itself, at Warn and Info; while Redis is down every
// operation fails at once with ErrDown.
func TestDownWithoutLimiter(t *testing.T) {
	srv := startServer(t)
	c := outageClient(srv.addr)
	t.Cleanup(func() { _ = c.Close() })
	logged := &logCount{}
	s := newStore(t, c, haltredis.WithTimeout(outageTimeout), haltredis.WithProbeInterval(20*time.Millisecond),
		haltredis.WithLogger(slog.New(logged)))
	ctx := context.Background()
	p := halt.Policy{Name: "alone", Limit: 10, Window: time.Hour}
	key := []byte("halt:alone:{ip:203.0.113.12}")
	if _, err := s.Take(ctx, key, &p, time.Now(), 1); err != nil {
		t.Fatal(err)
	}
	srv.kill()
	if _, err := s.Take(ctx, key, &p, time.Now(), 1); err == nil || errors.Is(err, haltredis.ErrDown) {
		t.Fatalf("the first take after the kill: %v, want the failure itself", err)
	}
	// The evidence (a refused connection, which the client reports as a
	// timeout while it retries dialing) comes at once.
	for deadline := time.Now().Add(2 * time.Second); !s.Down(); {
		if time.Now().After(deadline) {
			t.Fatal("the store did not switch to fast failures")
		}
		time.Sleep(time.Millisecond) // polling for the evidence
	}
	ops := map[string]func() error{
		"Take":   func() error { _, err := s.Take(ctx, key, &p, time.Now(), 1); return err },
		"Peek":   func() error { _, err := s.Peek(ctx, key, &p, time.Now(), 1); return err },
		"Refund": func() error { return s.Refund(ctx, key, &p, time.Now(), 1) },
		"Reset":  func() error { return s.Reset(ctx, key, &p) },
		"TakeAll": func() error {
			q := halt.Policy{Name: "alone2", Limit: 10, Window: time.Hour}
			return s.TakeAll(ctx, [][]byte{key, []byte("halt:alone2:{ip:203.0.113.12}")}, []*halt.Policy{&p, &q},
				time.Now(), 1, make([]halt.Result, 2))
		},
	}
	// ErrDown is only returned before a round trip; the bound is loose, for
	// a loaded machine.
	for name, f := range ops {
		t0 := time.Now()
		err := f()
		if took := time.Since(t0); !errors.Is(err, haltredis.ErrDown) || took >= outageTimeout {
			t.Fatalf("%s while down: %v after %v; want ErrDown at once", name, err, took)
		}
	}
	srv.start()
	deadline := time.Now().Add(10 * time.Second)
	for s.Down() {
		if time.Now().After(deadline) {
			t.Fatal("the store did not notice Redis was back")
		}
		time.Sleep(5 * time.Millisecond) // polling for the probe
	}
	got := logged.messages()
	if len(got) != 2 || !strings.HasPrefix(got[0], "WARN haltredis: redis store unreachable") ||
		got[1] != "INFO haltredis: redis store reachable again" {
		t.Fatalf("logged %q, want the store_down warning and the store_up info", got)
	}
}

// TestNilStore: a typed nil *Store is refused by halt.New, so its methods
// cannot be reached through a limiter.
func TestNilStore(t *testing.T) {
	p := halt.Policy{Name: "nil", Limit: 1, Window: time.Second}
	if l, err := halt.New((*haltredis.Store)(nil), p); err == nil || l != nil {
		t.Fatalf("halt.New with a nil *haltredis.Store: %v, %v; want an error", l, err)
	}
	s := newStore(t, standaloneClientNoPing())
	if _, err := halt.New(s, p, halt.WithFallback((*haltredis.Store)(nil))); err == nil {
		t.Fatal("a nil *haltredis.Store was accepted as the fallback")
	}
}

// TestStateVersion: the scripts write core's state version; when core
// moves to another, the scripts' layout must be reviewed with it.
func TestStateVersion(t *testing.T) {
	if halt.StateVersion != haltredis.StateVersion {
		t.Fatalf("core's StateVersion is %d, the scripts write %d: review the layout", halt.StateVersion, haltredis.StateVersion)
	}
}
