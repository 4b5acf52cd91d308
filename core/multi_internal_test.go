package halt

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestResultAbove: the order the two-policy path picks its decision in,
// on the store's results, is mostRestrictive's on the decisions they
// become.
func TestResultAbove(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cp, err := compile(Policy{Name: "p", Limit: 10, Window: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	reasons := []Reason{ReasonAllowed, ReasonLimited, ReasonCooldown, ReasonCostExceedsCapacity}
	random := func() Result {
		r := Result{Allowed: rng.IntN(2) == 0, Remaining: int64(rng.IntN(4) - 1),
			ResetAfter: time.Duration(rng.IntN(3)), RetryAfter: time.Duration(rng.IntN(3))}
		if !r.Allowed {
			r.Reason = reasons[1+rng.IntN(3)]
		}
		return r
	}
	var l Limiter
	now := time.Unix(1_800_000_000, 0)
	for range 20000 {
		res := [2]Result{random(), random()}
		var ds [2]Decision
		for i := range res {
			l.decisionInto(cp, &res[i], now, &ds[i])
		}
		want := mostRestrictive(ds[:])
		got := 0
		if resultAbove(&res[1], &res[0]) {
			got = 1
		}
		if got != want {
			t.Fatalf("results %+v: resultAbove picks %d, mostRestrictive %d", res, got, want)
		}
	}
}
