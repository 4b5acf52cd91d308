package memory_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
)

// TestQuotaTableReclaimsPastPeriods: a flood of quota keys fills the table
// (MaxKeys) for the period only: once their period has passed, their
// entries make room for new keys, on Quota and on TakeAllQuotas, even
// though the table was past its next regular sweep.
func TestQuotaTableReclaimsPastPeriods(t *testing.T) {
	s := memory.New(&memory.Config{MaxKeys: 100})
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	q := halt.Quota{Name: "daily", Limit: 5, Period: halt.Daily}
	day1 := halttest.QuotaBase
	day2 := day1.Add(24 * time.Hour)
	consume := func(id string, at time.Time) error {
		op := halt.QuotaOp{Kind: halt.QuotaConsume, Limit: q.Limit, Amount: 1, Now: at, Bounds: q.QuotaBounds(at)}
		r, err := s.Quota(ctx, halt.QuotaKey(q.Name, id), &op)
		if err == nil && (!r.Allowed || r.Used != 1) {
			t.Fatalf("%s at %v: %+v", id, at, r)
		}
		return err
	}
	for i := range 100 {
		if err := consume("flood-"+strconv.Itoa(i), day1); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	if err := consume("late", day1); !errors.Is(err, memory.ErrQuotaTableFull) {
		t.Fatalf("the 101st key in the period: %v, want ErrQuotaTableFull", err)
	}
	if err := consume("late", day2); err != nil {
		t.Fatalf("the next day: %v, want room (the flood's periods are over)", err)
	}
	// TakeAllQuotas too, for a key of its own.
	op := halt.QuotaOp{Kind: halt.QuotaConsume, Limit: q.Limit, Amount: 1, Now: day2, Bounds: q.QuotaBounds(day2)}
	qout := make([]halt.QuotaResult, 1)
	if err := s.TakeAllQuotas(ctx, nil, nil, day2, 1, nil, [][]byte{halt.QuotaKey(q.Name, "multi")}, []halt.QuotaOp{op}, qout); err != nil || !qout[0].Allowed {
		t.Fatalf("TakeAllQuotas the next day: %+v %v", qout[0], err)
	}
}

// TestPenaltyTableReclaimsIdleStates: penalty states that matter (a
// penalty running, a score) are never dropped, so a full table refuses a
// new one; once the penalties are over and the scores gone, the idle
// states make room, losing only the escalation's memory. A penalized
// check of a new client on a full table decides without recording.
func TestPenaltyTableReclaimsIdleStates(t *testing.T) {
	s := memory.New(&memory.Config{MaxKeys: 100})
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	cfg := halt.PenaltyConfig{Threshold: 1, Duration: 10 * time.Minute, Multiplier: 0.5, DecayRate: 1}
	base := halttest.Base
	record := func(id string, at time.Duration) (halt.PenaltyState, error) {
		op := halt.PenaltyOp{Kind: halt.PenaltyRecord, Config: &cfg, Severity: 1, Now: base.Add(at)}
		st, _, _, err := s.Penalty(ctx, halt.PenaltyKey(id), &op)
		return st, err
	}
	for i := range 100 {
		if st, err := record("flood-"+strconv.Itoa(i), 0); err != nil || st.Strike != 1 {
			t.Fatalf("key %d: %+v %v", i, st, err)
		}
	}
	if _, err := record("late", 5*time.Minute); !errors.Is(err, memory.ErrQuotaTableFull) {
		t.Fatalf("a new state while 100 penalties run: %v, want ErrQuotaTableFull", err)
	}
	// A penalized check of a new client: decided, nothing recorded.
	pt := halttest.PenaltyTake("ip:198.51.100.99", false, base.Add(5*time.Minute), 21)
	if err := s.TakePenalized(ctx, pt); err != nil || pt.Out[0].Allowed || pt.Violated || pt.Penalty != (halt.PenaltyState{}) {
		t.Fatalf("a check on a full table: %+v %v; want decided, not recorded", pt, err)
	}
	// The penalties ended at +10 minutes and their scores are 0: idle.
	st, err := record("late", 11*time.Minute)
	if err != nil || st.Strike != 1 {
		t.Fatalf("a new state once the others are idle: %+v %v", st, err)
	}
	// The idle states were dropped: a repeat is a first penalty again.
	if st, err := record("flood-0", 12*time.Minute); err != nil || st.Strike != 1 {
		t.Fatalf("flood-0 after the reclaim: %+v %v, want strike 1", st, err)
	}
}
