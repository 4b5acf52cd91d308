package haltredis_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	haltredis "github.com/halt-go/halt/stores/redis"
)

// The suites use a generous timeout: 64 goroutines under -race on two
// shared cores can queue for longer than the production default.
const suiteTimeout = 5 * time.Second

// runPrefix keeps this run's keys apart from earlier runs' on a shared
// server (the suite's scribbled key is the same in every run).
var runPrefix = "t" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"

var storeSeq atomic.Int64

// freshPrefix is a prefix no other store of this run uses.
func freshPrefix(what string) string {
	return runPrefix + what + strconv.FormatInt(storeSeq.Add(1), 10) + ":"
}

func TestStoreSuiteStandalone(t *testing.T) {
	c := standalone(t)
	halttest.RunStoreTests(t, func(t *testing.T) halt.Store {
		return newStore(t, c, haltredis.WithCallerClock(), haltredis.WithTimeout(suiteTimeout),
			haltredis.WithPrefix(freshPrefix("standalone")))
	})
}

func TestStoreSuiteStandaloneNoCache(t *testing.T) {
	c := standalone(t)
	halttest.RunStoreTests(t, func(t *testing.T) halt.Store {
		return newStore(t, c, haltredis.WithCallerClock(), haltredis.WithTimeout(suiteTimeout),
			haltredis.WithOverLimitCache(0), haltredis.WithPrefix(freshPrefix("nocache")))
	})
}

// With ContextTimeoutEnabled, an idle store decides on the caller's
// goroutine (no hand-off to a pipeline worker).
func TestStoreSuiteStandaloneInline(t *testing.T) {
	standalone(t)
	c := redis.NewClient(&redis.Options{Addr: standaloneAddr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	halttest.RunStoreTests(t, func(t *testing.T) halt.Store {
		return newStore(t, c, haltredis.WithCallerClock(), haltredis.WithTimeout(suiteTimeout),
			haltredis.WithPrefix(freshPrefix("inline")))
	})
}

func TestStoreSuiteCluster(t *testing.T) {
	c := cluster(t)
	halttest.RunStoreTests(t, func(t *testing.T) halt.Store {
		return newStore(t, c, haltredis.WithCallerClock(), haltredis.WithTimeout(suiteTimeout),
			haltredis.WithPrefix(freshPrefix("cluster")))
	})
}

func TestNewValidates(t *testing.T) {
	if _, err := haltredis.New(nil); err == nil {
		t.Error("nil client accepted")
	}
	c := standaloneClientNoPing()
	defer c.Close()
	bad := []haltredis.Option{
		haltredis.WithTimeout(0),
		haltredis.WithTimeout(-time.Second),
		haltredis.WithPrefix("a{b"),
		haltredis.WithOverLimitCache(-1),
		haltredis.WithProbeInterval(0),
		haltredis.WithPipelining(0, 1),
		haltredis.WithPipelining(1, 0),
	}
	for i, o := range bad {
		if s, err := haltredis.New(c, o); err == nil {
			_ = s.Close()
			t.Errorf("option %d accepted", i)
		}
	}
	s, err := haltredis.New(c, nil, haltredis.WithPrefix("app:"), haltredis.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_ = s.Close() // idempotent
	p := halt.Policy{Name: "closed", Limit: 1, Window: time.Second}
	if _, err := s.Take(context.Background(), []byte("k"), &p, time.Now(), 1); !errors.Is(err, halt.ErrStoreClosed) {
		t.Fatalf("Take after Close: %v, want ErrStoreClosed", err)
	}
}

func TestPolicyNotInMicroseconds(t *testing.T) {
	s := newStore(t, standaloneClientNoPing())
	for _, p := range []halt.Policy{
		{Name: "ns", Limit: 1, Window: time.Second + 1},
		{Name: "nsblock", Limit: 1, Window: time.Second, BlockDuration: time.Minute + 500},
		{Name: "nssub", Limit: 1, Window: time.Millisecond, Algorithm: halt.SlidingWindow, Precision: 16},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("%s: Validate accepted a sub-microsecond policy", p.Name)
		}
		// The store refuses it too, for a policy nobody validated.
		if _, err := s.Take(context.Background(), []byte("k"), &p, time.Now(), 1); err == nil {
			t.Errorf("%s: a sub-microsecond policy was accepted", p.Name)
		}
	}
}
