package halttest

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
)

// runAdapterFlowTests is the adapter suite's part for flow control:
// counting by outcome (with errors and panics), in-flight limits, waiting
// and settling, over real HTTP.
func runAdapterFlowTests(t *testing.T, newStore func(t *testing.T) halt.Store, serve AdapterHarness, cancels bool) {
	proxy := halt.WithTrustedProxies("127.0.0.1/32")
	pub := halt.Policy{Name: "public", Limit: 100, Window: time.Minute}

	t.Run("CountFailures", func(t *testing.T) {
		store := newStore(t)
		global := limiter(t, store, pub, proxy)
		otp := limiter(t, store, halt.Policy{Name: "otp", Limit: 3, Window: 10 * time.Minute, Count: halt.CountFailures}, proxy)
		c := newClient(t, serve(t, AdapterConfig{Global: global, Flow: otp}), "")
		ip := xff("203.0.113.80")
		for range 5 {
			// Taken up front (the headers say 2 left), given back after the 200.
			c.do("GET", "/outcome", ip).expect(t, 200, std(3, 2, 200), "ok")
		}
		if r := c.do("GET", "/outcome", ip, "X-Status: 401"); r.status != 401 {
			t.Fatalf("X-Status 401: %d", r.status)
		}
		if r := c.do("GET", "/outcome", ip, "X-Error: 403"); r.status != 403 {
			t.Fatalf("X-Error 403: %d %q", r.status, r.body)
		}
		if r := c.do("GET", "/outcome", ip, "X-Panic: 1"); r.status != 500 {
			t.Fatalf("X-Panic: %d %q", r.status, r.body)
		}
		// Three failures counted (a panic is a 500): the next attempt is
		// refused, whatever it would have answered.
		c.do("GET", "/outcome", ip).expect(t, 429, blocked(3, 200), RateLimitBody(200))
		// The global limiter was given back the refused request only.
		st, err := global.Standing(context.Background(), &FakeRequest{Peer: "127.0.0.1:1", Headers: http.Header{"X-Forwarded-For": {"203.0.113.80"}}})
		if err != nil || st[0].Remaining != 92 {
			t.Fatalf("global standing: %+v %v, want 92 left (8 counted)", st, err)
		}
	})
	t.Run("InFlight", func(t *testing.T) {
		hold := make(chan struct{})
		entered := make(chan struct{}, 8)
		slots := limiter(t, newStore(t), halt.Policy{Name: "inflight", Limit: 2, Window: time.Minute, Algorithm: halt.InFlight}, proxy)
		cfg := AdapterConfig{Global: limiter(t, newStore(t), pub, proxy), Flow: slots, Hold: hold, Entered: entered}
		c := newClient(t, serve(t, cfg), "")
		ip := xff("203.0.113.81")
		// A panicking handler releases its slot.
		if r := c.do("GET", "/outcome", ip, "X-Panic: 1"); r.status != 500 {
			t.Fatalf("X-Panic: %d", r.status)
		}
		var wg sync.WaitGroup
		codes := make(chan int, 2)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes <- c.do("GET", "/outcome", ip, "X-Hold: 1").status
			}()
		}
		<-entered
		<-entered
		want := map[string]string{"Retry-After": "1", "RateLimit-Limit": "2", "RateLimit-Remaining": "0"}
		c.do("GET", "/outcome", ip).expect(t, 429, want, RateLimitBody(1))
		// another client has its own slots
		c.do("GET", "/outcome", xff("203.0.113.82")).expect(t, 200, map[string]string{"RateLimit-Remaining": "1"}, "ok")
		close(hold)
		wg.Wait()
		close(codes)
		for code := range codes {
			if code != 200 {
				t.Fatalf("held request: %d", code)
			}
		}
		c.do("GET", "/outcome", ip).expect(t, 200, map[string]string{"RateLimit-Remaining": "1"}, "ok")
	})
	t.Run("Wait", func(t *testing.T) {
		clock := NewClock(Base)
		smooth := halt.Policy{Name: "smooth", Limit: 5, Window: time.Second, Burst: 1, MaxWait: time.Second}
		l := limiter(t, newStore(t), smooth, proxy, halt.WithClock(clock))
		c := newClient(t, serve(t, AdapterConfig{Global: limiter(t, newStore(t), pub, proxy), Flow: l}), "")
		ip := xff("203.0.113.83")
		c.do("GET", "/outcome", ip).expect(t, 200, nil, "ok")
		var wg sync.WaitGroup
		codes := make(chan int, 5)
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes <- c.do("GET", "/outcome", ip).status
			}()
		}
		waitUntil(t, "5 waiting requests", func() bool { return clock.Timers() == 5 })
		// A 7th would wait 1.2 s: refused at once, told to come back in 200 ms.
		c.do("GET", "/outcome", ip).expect(t, 429, map[string]string{"Retry-After": "1"}, RateLimitBody(1))
		clock.Advance(time.Second)
		wg.Wait()
		close(codes)
		for code := range codes {
			if code != 200 {
				t.Fatalf("a waiting request: %d", code)
			}
		}
		if !cancels {
			return
		}
		// A client that hangs up while it waits frees its place and its token.
		clock.Advance(2 * time.Second)
		c.do("GET", "/outcome", ip).expect(t, 200, nil, "ok")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/outcome", nil)
			req.Header.Set("X-Forwarded-For", "203.0.113.83")
			if res, err := c.hc.Do(req); err == nil {
				res.Body.Close()
			}
		}()
		waitUntil(t, "the waiting request", func() bool { return clock.Timers() == 1 })
		cancel()
		<-done
		waitUntil(t, "the hung-up request to leave", func() bool { return clock.Timers() == 0 && l.Waiting() == 0 })
		// Its token went back: the next request waits 200 ms, not 400.
		next := make(chan int, 1)
		go func() { next <- c.do("GET", "/outcome", ip).status }()
		waitUntil(t, "the next waiting request", func() bool { return clock.Timers() == 1 })
		clock.Advance(199 * time.Millisecond)
		if clock.Timers() != 1 {
			t.Fatal("the next request waited less than 200 ms")
		}
		clock.Advance(time.Millisecond)
		if code := <-next; code != 200 {
			t.Fatalf("the request after a hang-up: %d", code)
		}
	})
	t.Run("Settle", func(t *testing.T) {
		store := newStore(t)
		tokens := limiter(t, store, halt.Policy{Name: "tokens", Limit: 10, Window: 10 * time.Second}, proxy)
		global := halt.Policy{Name: "global", Limit: 100, Window: time.Minute, Exemptions: []string{"/settle"}}
		c := newClient(t, serve(t, AdapterConfig{Global: limiter(t, store, global, proxy), Settle: tokens}), "")
		ip := xff("203.0.113.84")
		left := func() int64 {
			t.Helper()
			st, err := tokens.Standing(context.Background(), &FakeRequest{Peer: "127.0.0.1:1", Headers: http.Header{"X-Forwarded-For": {"203.0.113.84"}}})
			if err != nil {
				t.Fatal(err)
			}
			return st[0].Remaining
		}
		c.do("POST", "/settle", ip, "X-Cost: 5", "X-Actual: 8").expect(t, 200, nil, "settled")
		if got := left(); got != 2 {
			t.Fatalf("after settling 5 up to 8: %d left, want 2", got)
		}
		c.do("POST", "/settle", ip, "X-Cost: 2", "X-Actual: 1").expect(t, 200, nil, "settled")
		if got := left(); got != 1 {
			t.Fatalf("after settling 2 down to 1: %d left, want 1", got)
		}
		c.do("POST", "/settle", ip, "X-Cost: 1", "X-Actual: 6").expect(t, 200, nil, "settled")
		// 5 tokens of debt: 6 s until one is back.
		c.do("POST", "/settle", ip, "X-Cost: 1", "X-Actual: 1").expect(t, 429, blocked(10, 6), RateLimitBody(6))
	})
}

// waitUntil polls cond while requests travel through a real server.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // scheduling of real requests, not rate-limit time
	}
}
