package halttest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
)

// TakePenaltyConfig is the penalty configuration of [RunPenaltyTakeTests]:
// a threshold of 3, two-hour penalties at half the limits, no decay (so
// scores are exact counts), doubling per repeat.
var TakePenaltyConfig = halt.PenaltyConfig{Threshold: 3, Duration: 2 * time.Hour, Multiplier: 0.5, Escalation: 2}

// PenaltyTake is the check [RunPenaltyTakeTests] and [RunPenalizedTakes]
// make for client: a fixed window of 20 per hour (reduced: 10), and, when
// quota is set, a monthly quota of 1,000, consuming cost, at now, recording
// a violation of severity 1.
func PenaltyTake(client string, quota bool, now time.Time, cost int64) *halt.PenalizedTake {
	p := &halt.Policy{Name: "pt-window", Limit: 20, Window: time.Hour, Algorithm: halt.FixedWindow}
	r := *p
	r.Limit = 10
	pt := &halt.PenalizedTake{
		Keys: [][]byte{[]byte("halt:pt-window:{" + client + "}")}, Policies: []*halt.Policy{p}, Reduced: []*halt.Policy{&r},
		Now: now, Cost: cost, PenaltyKey: []byte("halt:penalty:{" + client + "}"), Config: &TakePenaltyConfig,
		Severity: 1, Out: make([]halt.Result, 1),
	}
	if quota {
		q := halt.Quota{Name: "pt-month", Limit: 1000, Period: halt.Monthly}
		pt.QuotaKeys = [][]byte{[]byte("halt:pt-month:{" + client + "}")}
		pt.QuotaOps = []halt.QuotaOp{{Kind: halt.QuotaConsume, Limit: q.Limit, Amount: max(1, cost), Now: now, Bounds: q.QuotaBounds(now)}}
		pt.QuotaOut = make([]halt.QuotaResult, 1)
	}
	return pt
}

// PenaltyTakeStats is what [RunPenalizedTakes] counts.
type PenaltyTakeStats struct {
	Admitted, Penalized, Violated, Started, Banned int64
}

// RunPenalizedTakes runs workers goroutines, each calling TakePenalized
// each times with [PenaltyTake](client, quota, at, 1), and counts the
// answers.
func RunPenalizedTakes(t testing.TB, store halt.Store, client string, quota bool, at time.Time, workers, each int) PenaltyTakeStats {
	t.Helper()
	ptk := store.(halt.PenaltyTaker)
	var admitted, penalized, violated, started, banned atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				pt := PenaltyTake(client, quota, at, 1)
				if err := ptk.TakePenalized(context.Background(), pt); err != nil {
					t.Error(err)
					return
				}
				ok := !pt.Banned && pt.Out[0].Allowed && (!quota || pt.QuotaOut[0].Allowed)
				for _, c := range []struct {
					b bool
					n *atomic.Int64
				}{{ok, &admitted}, {pt.Penalized, &penalized}, {pt.Violated, &violated}, {pt.Started, &started}, {pt.Banned, &banned}} {
					if c.b {
						c.n.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	return PenaltyTakeStats{admitted.Load(), penalized.Load(), violated.Load(), started.Load(), banned.Load()}
}

// RunPenaltyTakeTests is the conformance suite of [halt.PenaltyTaker]: the
// penalty applied inside the decision. It runs as part of [RunStoreTests]
// for stores that implement it; the store must honour the instants passed.
func RunPenaltyTakeTests(t *testing.T, newStore func(t *testing.T) halt.Store) {
	t.Helper()
	us := func(d time.Duration) int64 { return Base.Add(d).UnixMicro() }
	take := func(t *testing.T, s halt.Store, pt *halt.PenalizedTake) *halt.PenalizedTake {
		t.Helper()
		if err := s.(halt.PenaltyTaker).TakePenalized(context.Background(), pt); err != nil {
			t.Fatalf("TakePenalized: %v", err)
		}
		return pt
	}
	for _, quota := range []bool{false, true} {
		name := "Policy"
		if quota {
			name = "PolicyAndQuota"
		}
		t.Run(name+"/CrossingTakesEffectNextDecision", func(t *testing.T) {
			s := newStore(t)
			client := unique("ip:198.51.100.9")
			// A reference: the window decided by core, full then reduced.
			ref := halt.State{}
			full, reduced := PenaltyTake(client, quota, Base, 1).Policies[0], PenaltyTake(client, quota, Base, 1).Reduced[0]
			check := func(pt *halt.PenalizedTake, p *halt.Policy, cost int64, penalized, violated, started bool, st halt.PenaltyState) {
				t.Helper()
				want := p.Decide(&ref, Base.UnixNano(), cost)
				if pt.Banned || pt.Penalized != penalized || pt.Violated != violated || pt.Started != started ||
					pt.Out[0] != want || pt.Penalty != st || pt.At != us(0) {
					t.Fatalf("cost %d: %+v\nwant out %+v penalized %v violated %v started %v state %+v", cost, pt, want,
						penalized, violated, started, st)
				}
				if quota && !pt.QuotaOut[0].Allowed {
					t.Fatalf("quota %+v: it has room", pt.QuotaOut[0])
				}
			}
			// 17 of 20 taken, then a cost of 4 is rejected: a violation (1),
			// and another (2).
			for i := 0; i < 17; i++ {
				check(take(t, s, PenaltyTake(client, quota, Base, 1)), full, 1, false, false, false, halt.PenaltyState{})
			}
			check(take(t, s, PenaltyTake(client, quota, Base, 4)), full, 4, false, true, false, halt.PenaltyState{Score: 1, Stamp: us(0)})
			check(take(t, s, PenaltyTake(client, quota, Base, 4)), full, 4, false, true, false, halt.PenaltyState{Score: 2, Stamp: us(0)})
			// The third starts a penalty, in the call that records it ...
			pen := halt.PenaltyState{Stamp: us(0), Until: us(2 * time.Hour), Strike: 1, Last: us(0)}
			check(take(t, s, PenaltyTake(client, quota, Base, 4)), full, 4, false, true, true, pen)
			// ... and the very next decision is at the reduced limit: 17 of
			// 10 taken, a cost of 1 that the full limit admitted is rejected.
			pen.Score = 1
			check(take(t, s, PenaltyTake(client, quota, Base, 1)), reduced, 1, true, true, false, pen)
			// A cost above the reduced capacity is no violation.
			check(take(t, s, PenaltyTake(client, quota, Base, 11)), reduced, 11, true, false, false, pen)
			if quota {
				// The quota was charged only for the 17 admissions.
				q := PenaltyTake(client, quota, Base, 1)
				op := q.QuotaOps[0]
				op.Kind = halt.QuotaPeek
				r, err := s.(halt.QuotaStore).Quota(context.Background(), q.QuotaKeys[0], &op)
				if err != nil || r.Used != 17 {
					t.Fatalf("quota after the run: %+v %v, want 17 used", r, err)
				}
			}
		})
	}
	t.Run("QuotaRejectionIsAViolation", func(t *testing.T) {
		s := newStore(t)
		client := unique("ip:198.51.100.10")
		pt := PenaltyTake(client, true, Base, 1)
		pt.QuotaOps[0].Limit = 2
		for i := 0; i < 2; i++ {
			p := *pt
			p.Out, p.QuotaOut = make([]halt.Result, 1), make([]halt.QuotaResult, 1)
			take(t, s, &p)
			if !p.Out[0].Allowed || !p.QuotaOut[0].Allowed || p.Violated {
				t.Fatalf("take %d: %+v", i, p)
			}
		}
		take(t, s, pt)
		if pt.QuotaOut[0].Allowed || pt.QuotaOut[0].Used != 2 || !pt.Violated || pt.Penalty.Score != 1 {
			t.Fatalf("over the quota: %+v", pt)
		}
		// The policy was not charged for it: 2 of 20 taken.
		r, err := s.(halt.Peeker).Peek(context.Background(), pt.Keys[0], pt.Policies[0], Base, 1)
		if err != nil || r.Remaining != 18 {
			t.Fatalf("the window after a quota rejection: %+v %v, want 18 remaining", r, err)
		}
	})
	t.Run("BanRejectsInTheSameCall", func(t *testing.T) {
		s := newStore(t)
		client := unique("ip:198.51.100.11")
		pt := PenaltyTake(client, true, Base, 1)
		ban := halt.PenaltyOp{Kind: halt.PenaltyBan, Config: pt.Config, Duration: time.Hour, Now: Base}
		if _, _, _, err := s.(halt.PenaltyStore).Penalty(context.Background(), pt.PenaltyKey, &ban); err != nil {
			t.Fatal(err)
		}
		take(t, s, pt)
		want := halt.PenaltyState{Until: us(time.Hour), Banned: true}
		if !pt.Banned || pt.Penalized || pt.Violated || pt.Penalty != want || pt.At != us(0) ||
			pt.Out[0] != (halt.Result{}) || pt.QuotaOut[0] != (halt.QuotaResult{}) {
			t.Fatalf("banned: %+v", pt)
		}
		// Nothing was decided or charged: the window and the quota are full.
		r, err := s.(halt.Peeker).Peek(context.Background(), pt.Keys[0], pt.Policies[0], Base, 1)
		if err != nil || r.Remaining != 20 {
			t.Fatalf("the window after a banned check: %+v %v, want 20 remaining", r, err)
		}
		op := pt.QuotaOps[0]
		op.Kind = halt.QuotaPeek
		if q, err := s.(halt.QuotaStore).Quota(context.Background(), pt.QuotaKeys[0], &op); err != nil || q.Used != 0 {
			t.Fatalf("the quota after a banned check: %+v %v, want 0 used", q, err)
		}
		// Once the ban is over the client is decided again.
		late := take(t, s, PenaltyTake(client, true, Base.Add(time.Hour), 1))
		if late.Banned || !late.Out[0].Allowed || !late.QuotaOut[0].Allowed {
			t.Fatalf("after the ban: %+v", late)
		}
	})
	t.Run("Concurrency", func(t *testing.T) {
		// 64 goroutines x 4: the first 20 are admitted, the 3rd rejection
		// starts the penalty (once), and every later rejection adds 1 to
		// the score; an hour later, in a new window and still penalized,
		// exactly the reduced allowance of 10 is admitted.
		s := newStore(t)
		client := unique("ip:198.51.100.12")
		got := RunPenalizedTakes(t, s, client, true, Base, 64, 4)
		if want := (PenaltyTakeStats{Admitted: 20, Violated: 236, Started: 1, Penalized: 233}); got != want {
			t.Fatalf("first hour: %+v, want %+v", got, want)
		}
		got = RunPenalizedTakes(t, s, client, true, Base.Add(time.Hour), 64, 4)
		if want := (PenaltyTakeStats{Admitted: 10, Violated: 246, Penalized: 256}); got != want {
			t.Fatalf("second hour, penalized: %+v, want %+v", got, want)
		}
		pt := PenaltyTake(client, true, Base.Add(time.Hour), 1)
		op := halt.PenaltyOp{Kind: halt.PenaltyRead, Config: pt.Config, Now: pt.Now}
		st, _, _, err := s.(halt.PenaltyStore).Penalty(context.Background(), pt.PenaltyKey, &op)
		want := halt.PenaltyState{Score: 233 + 246, Stamp: us(time.Hour), Until: us(2 * time.Hour), Strike: 1, Last: us(0)}
		if err != nil || st != want {
			t.Fatalf("penalty state: %+v %v, want %+v", st, err, want)
		}
		op2 := pt.QuotaOps[0]
		op2.Kind = halt.QuotaPeek
		if q, err := s.(halt.QuotaStore).Quota(context.Background(), pt.QuotaKeys[0], &op2); err != nil || q.Used != 30 {
			t.Fatalf("quota: %+v %v, want 30 used", q, err)
		}
	})
}
