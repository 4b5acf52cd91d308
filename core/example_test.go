package halt_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

// tinyStore is the smallest correct [halt.Store]: one lock, one map, and
// core's own algorithms ([halt.Policy.Decide]). It never forgets a key;
// the memory store (github.com/halt-go/halt/stores/memory) is the one to
// use: sharded, bounded, with expiry.
type tinyStore struct {
	mu     sync.Mutex
	states map[string]*halt.State
}

func (s *tinyStore) Take(_ context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) (halt.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[string(key)]
	if !ok {
		st = new(halt.State)
		s.states[string(key)] = st
	}
	return p.Decide(st, now.UnixNano(), cost), nil
}

// A limiter of 3 requests per minute per client IP: a token bucket that
// holds 3 tokens and gets one back every 20 seconds. The clock is a test
// clock, so the output does not depend on the machine's speed.
func Example() {
	clock := halttest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	limiter, err := halt.New(&tinyStore{states: map[string]*halt.State{}},
		halt.Policy{Name: "api", Limit: 3, Window: time.Minute},
		halt.WithClock(clock))
	if err != nil {
		panic(err)
	}
	client := &halttest.FakeRequest{Peer: "203.0.113.7:51234"} // private addresses are exempt by default
	check := func(label string) {
		d, err := limiter.Check(context.Background(), client)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: allowed=%v remaining=%d retry-after=%v\n", label, d.Allowed, d.Remaining, d.RetryAfter)
	}
	for i := 1; i <= 4; i++ {
		check(fmt.Sprintf("request %d", i))
	}
	clock.Advance(20 * time.Second)
	check("20s later")
	// Output:
	// request 1: allowed=true remaining=2 retry-after=0s
	// request 2: allowed=true remaining=1 retry-after=0s
	// request 3: allowed=true remaining=0 retry-after=0s
	// request 4: allowed=false remaining=0 retry-after=20s
	// 20s later: allowed=true remaining=0 retry-after=0s
}

// A request can cost more than one token, here known only once the work is
// known. Remaining counts requests of the same cost.
func ExampleWithCost() {
	limiter, err := halt.New(&tinyStore{states: map[string]*halt.State{}},
		halt.Policy{Name: "llm", Limit: 10, Window: time.Minute},
		halt.WithClock(halttest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))))
	if err != nil {
		panic(err)
	}
	client := &halttest.FakeRequest{Peer: "203.0.113.7:51234"}
	for _, cost := range []int64{4, 4, 4} {
		d, err := limiter.Check(context.Background(), client, halt.WithCost(cost))
		if err != nil {
			panic(err)
		}
		fmt.Printf("cost %d: allowed=%v remaining=%d\n", cost, d.Allowed, d.Remaining)
	}
	// Output:
	// cost 4: allowed=true remaining=1
	// cost 4: allowed=true remaining=0
	// cost 4: allowed=false remaining=0
}

// Behind a load balancer, the TCP peer is the balancer: declare it trusted
// and Halt takes the client from X-Forwarded-For, walking from the right
// and stopping at the first address that is not a trusted proxy. Headers
// from anyone else are ignored, so a client cannot choose its own key.
func ExampleWithTrustedProxies() {
	limiter, err := halt.New(&tinyStore{states: map[string]*halt.State{}},
		halt.Policy{Name: "api", Limit: 100, Window: time.Minute},
		halt.WithTrustedProxies("10.0.0.0/8"))
	if err != nil {
		panic(err)
	}
	for _, r := range []*halttest.FakeRequest{
		// through the balancer; the leftmost entry is whatever the client sent
		{Peer: "10.0.0.5:40000", Headers: http.Header{"X-Forwarded-For": {"198.51.100.1, 203.0.113.7"}}},
		// straight from a client that forged the header
		{Peer: "198.51.100.9:40000", Headers: http.Header{"X-Forwarded-For": {"203.0.113.7"}}},
	} {
		ip, _ := limiter.ClientIP(r)
		fmt.Printf("peer %s -> client %s\n", r.Peer, ip)
	}
	// Output:
	// peer 10.0.0.5:40000 -> client 203.0.113.7
	// peer 198.51.100.9:40000 -> client 198.51.100.9
}

// Health checks and private client addresses are exempt by default: they
// consume nothing and get no rate-limit headers.
func ExampleDecision_Exempt() {
	limiter, err := halt.New(&tinyStore{states: map[string]*halt.State{}},
		halt.Policy{Name: "api", Limit: 1, Window: time.Minute})
	if err != nil {
		panic(err)
	}
	for _, r := range []*halttest.FakeRequest{
		{Peer: "203.0.113.7:51234", URLPath: "/healthz"},
		{Peer: "192.168.1.20:51234", URLPath: "/orders"},
		{Peer: "203.0.113.7:51234", URLPath: "/orders"},
	} {
		d, err := limiter.Check(context.Background(), r)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s %s: exempt=%v\n", r.Peer, r.URLPath, d.Exempt())
	}
	// Output:
	// 203.0.113.7:51234 /healthz: exempt=true
	// 192.168.1.20:51234 /orders: exempt=true
	// 203.0.113.7:51234 /orders: exempt=false
}

// A fixed window admits at most Limit requests per window, windows aligned
// to the Unix epoch; Reset is the window's end.
func ExampleFixedWindow() {
	clock := halttest.NewClock(time.Date(2026, 1, 1, 0, 0, 45, 0, time.UTC)) // 15s before a minute ends
	limiter, err := halt.New(&tinyStore{states: map[string]*halt.State{}},
		halt.Policy{Name: "reports", Limit: 2, Window: time.Minute, Algorithm: halt.FixedWindow},
		halt.WithClock(clock))
	if err != nil {
		panic(err)
	}
	client := &halttest.FakeRequest{Peer: "203.0.113.7:51234"}
	for range 3 {
		d, err := limiter.Check(context.Background(), client)
		if err != nil {
			panic(err)
		}
		fmt.Printf("allowed=%v remaining=%d reset-after=%v\n", d.Allowed, d.Remaining, d.ResetAfter)
	}
	// Output:
	// allowed=true remaining=1 reset-after=15s
	// allowed=true remaining=0 reset-after=15s
	// allowed=false remaining=0 reset-after=15s
}
