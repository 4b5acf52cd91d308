package adapter_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/adapter"
	"github.com/halt-go/halt/core/halttest"
)

// Stacked limiters never charge a refused request: 13 login attempts leave
// the global limiter charged for the admitted ones only.
func TestLedgerGivesBackOnALaterRejection(t *testing.T) {
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
	gm, am := adapter.New[int](global), adapter.New[int](auth)
	req := &halttest.FakeRequest{Peer: "203.0.113.7:1", Verb: "POST", URLPath: "/auth/login"}
	admitted := 0
	for i := 0; i < 13; i++ {
		var g adapter.Ledger
		if _, ok := gm.HandleWith(0, req, adapter.HTTPHeaders(http.Header{}), &g); !ok {
			t.Fatalf("attempt %d: the global limiter refused", i)
		}
		if _, ok := am.HandleWith(0, req, adapter.HTTPHeaders(http.Header{}), &g); ok {
			admitted++
		}
	}
	if admitted != 10 {
		t.Fatalf("auth admitted %d of 13, want its burst of 10", admitted)
	}
	st, err := global.Standing(context.Background(), req)
	if err != nil || st[0].Remaining != 110 {
		t.Fatalf("global standing %+v %v: want 110 (120 less the 10 admitted logins)", st, err)
	}
	// Without a ledger, the old behaviour: the global limiter pays for all.
	d, ok := adapter.Decide(global, req, adapter.HTTPHeaders(http.Header{}), 0)
	if !ok || d.Remaining != 109 {
		t.Fatalf("%+v", d)
	}
}
