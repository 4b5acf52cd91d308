package adapter_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/adapter"
	"github.com/halt-go/halt/core/halttest"
)

// Stacked limiters never charge a refused request: 13 login attempts leave
// the global limiter charged for the admitted ones only.
func TestStackGivesBackOnALaterRejection(t *testing.T) {
	store := halttest.NewMapStore()
	clock := halt.WithClock(halttest.NewClock(halttest.Base))
	global, err := halt.New(store, halt.Policy{Name: "global", Limit: 100, Window: time.Minute, Burst: 120}, clock)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := halt.New(store, halt.Policy{Name: "auth", Limit: 5, Window: time.Minute, Burst: 10}, clock)
	if err != nil {
		t.Fatal(err)
	}
	req := &halttest.FakeRequest{Peer: "203.0.113.7:1", Verb: "POST", URLPath: "/auth/login"}
	admitted := 0
	for i := 0; i < 13; i++ {
		id := new(int) // the request's identity (net/http uses its ResponseWriter)
		d, ok := adapter.Decide(global, req, adapter.HTTPHeaders(http.Header{}), 0)
		if !ok {
			t.Fatalf("attempt %d: the global limiter refused", i)
		}
		e := adapter.Enter(id)
		// the route's limiter, inside the chain
		if _, ok := adapter.Decide(auth, req, adapter.HTTPHeaders(http.Header{}), 0); ok {
			admitted++
		} else {
			adapter.Refuse(id)
		}
		if e.Leave() {
			if err := global.Undo(context.Background(), req, &d); err != nil {
				t.Fatal(err)
			}
		}
	}
	if admitted != 10 {
		t.Fatalf("auth admitted %d of 13, want its burst of 10", admitted)
	}
	st, err := global.Standing(context.Background(), req)
	if err != nil || st[0].Remaining != 110 {
		t.Fatalf("global standing %+v %v: want 110 (120 less the 10 admitted logins)", st, err)
	}
}

// The stack keeps requests apart, shares one entry between the middleware
// of one request, and forgets a request once its owner leaves.
func TestStackEntries(t *testing.T) {
	a, b := new(int), new(int)
	ea := adapter.Enter(a)
	eb := adapter.Enter(b)
	inner := adapter.Enter(a) // a second middleware of request a
	adapter.Refuse(a)
	if !inner.Leave() || eb.Leave() {
		t.Fatal("the refusal of a reached the wrong entry")
	}
	if !ea.Leave() {
		t.Fatal("the owner of a missed the refusal")
	}
	again := adapter.Enter(a) // a new request reusing the same identity
	if again.Leave() {
		t.Fatal("a stale refusal survived its request")
	}
	adapter.Refuse(new(int)) // never entered: nothing happens
	adapter.Refuse(nil)
	adapter.Refuse(struct{ s []int }{}) // not comparable: ignored, no panic
	if e := adapter.Enter(struct{ s []int }{}); e.Leave() {
		t.Fatal("a non-comparable identity")
	}
	// Under concurrency every request sees its own refusals only.
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				id := new(int)
				e := adapter.Enter(id)
				refuse := i%3 == 0
				if refuse {
					adapter.Refuse(id)
				}
				if e.Leave() != refuse {
					t.Error("a request saw another's refusal, or missed its own")
					return
				}
			}
		}()
	}
	wg.Wait()
}
