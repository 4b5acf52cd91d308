package memory_test

import (
	"net/http"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

// TestFlowAllocations pins what flow control costs the heap per request on
// this store, through the limiter: a check that counts by outcome and its
// Finish (the 200 given back) allocate nothing; an in-flight check and its
// Finish allocate the lease (with its copy of the key) and, as the key
// comes and goes, the lease table's name for it.
func TestFlowAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop what it is given: allocations are counted without it")
	}
	for _, c := range []struct {
		p    halt.Policy
		want float64
	}{
		{halt.Policy{Name: "count", Limit: 1 << 40, Window: time.Second, Count: halt.CountFailures}, 0},
		{halt.Policy{Name: "inflight", Limit: 10, Window: time.Minute, Algorithm: halt.InFlight}, 2},
	} {
		l, err := halt.New(newStore(t, nil), c.p, halt.WithTelemetry(halt.NopTelemetry{}),
			halt.WithClock(halttest.NewClock(halttest.Base)))
		if err != nil {
			t.Fatal(err)
		}
		r := &halttest.FakeRequest{Peer: "203.0.113.9:1"}
		var d halt.Decision
		run := func() {
			if err := l.CheckCostInto(ctx, r, 0, &d); err != nil || !d.Allowed {
				t.Fatalf("%s: %+v %v", c.p.Name, d, err)
			}
			if err := l.Finish(ctx, r, &d, http.StatusOK); err != nil {
				t.Fatal(err)
			}
		}
		run()
		if got := testing.AllocsPerRun(200, run); got != c.want {
			t.Errorf("%s: %v allocations per check and finish, want %v", c.p.Name, got, c.want)
		}
	}
}
