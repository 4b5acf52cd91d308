package halt_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

// notices records the notices a sink received.
type notices struct {
	halt.NopTelemetry
	mu   sync.Mutex
	list []halt.Notice
}

func (n *notices) OnNotice(_ context.Context, x halt.Notice) {
	n.mu.Lock()
	n.list = append(n.list, x)
	n.mu.Unlock()
}

func (n *notices) kinds() []halt.NoticeKind {
	n.mu.Lock()
	defer n.mu.Unlock()
	var ks []halt.NoticeKind
	for _, x := range n.list {
		ks = append(ks, x.Kind)
	}
	return ks
}

func TestQuotaManager(t *testing.T) {
	ctx := context.Background()
	clock := halttest.NewClock(time.Date(2027, 2, 27, 22, 0, 0, 0, time.UTC))
	sink := &notices{}
	m, err := halt.NewQuotaManager(halttest.NewMapStore(), halt.ManagerClock(clock), halt.ManagerTelemetry(sink))
	if err != nil {
		t.Fatal(err)
	}
	q := halt.Quota{Name: "api_calls", Limit: 3, Period: halt.Monthly}
	want := func(st halt.QuotaStatus, err error, allowed bool, limit, used, remaining int64) {
		t.Helper()
		mar := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
		if err != nil || st.Allowed != allowed || st.Limit != limit || st.Used != used || st.Remaining != remaining ||
			st.Quota != "api_calls" || !st.ResetsAt.Equal(mar) || !st.PeriodStart.Equal(time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)) || !st.At.Equal(clock.Now()) {
			t.Fatalf("got %+v, %v; want allowed %v, limit %d, used %d, remaining %d, resetting at %v", st, err, allowed, limit, used, remaining, mar)
		}
	}
	st, err := m.Check(ctx, q, "user_123", 3)
	want(st, err, true, 3, 0, 3)
	st, err = m.Check(ctx, q, "user_123", 4)
	want(st, err, false, 3, 0, 3)
	if st.RetryAfter() != 26*time.Hour {
		t.Fatalf("RetryAfter %v, want 26h (to March 1)", st.RetryAfter())
	}
	st, err = m.Consume(ctx, q, "user_123", 2)
	want(st, err, true, 3, 2, 1)
	st, err = m.Consume(ctx, q, "user_123", 2)
	want(st, err, false, 3, 2, 1)              // does not fit: nothing taken
	st, err = m.Consume(ctx, q, "user_123", 0) // 0 is 1
	want(st, err, true, 3, 3, 0)
	if got := sink.kinds(); len(got) != 1 || got[0] != halt.NoticeQuotaExhausted {
		t.Fatalf("notices %v, want one %s", got, halt.NoticeQuotaExhausted)
	}
	st, err = m.Status(ctx, q, "user_123")
	want(st, err, false, 3, 3, 0)
	st, err = m.Status(ctx, q, "user_456") // another identifier
	want(st, err, true, 3, 0, 3)
	st, err = m.Grant(ctx, q, "user_123", 10)
	want(st, err, true, 13, 3, 10)
	if st.Granted != 10 {
		t.Fatalf("granted %d, want 10", st.Granted)
	}
	st, err = m.Refund(ctx, q, "user_123", 1)
	want(st, err, true, 13, 2, 11)
	if err := m.Reset(ctx, q, "user_123"); err != nil {
		t.Fatal(err)
	}
	st, err = m.Status(ctx, q, "user_123")
	want(st, err, true, 3, 0, 3)
	if n := len(sink.kinds()); n != 1 {
		t.Fatalf("%d notices, want still 1", n)
	}

	// March: the period turns, the use starts again.
	_, _ = m.Consume(ctx, q, "user_123", 3)
	clock.Advance(26 * time.Hour)
	st, err = m.Consume(ctx, q, "user_123", 1)
	if err != nil || !st.Allowed || st.Used != 1 || !st.ResetsAt.Equal(time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("in March: %+v, %v", st, err)
	}
}

func TestQuotaManagerRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	if _, err := halt.NewQuotaManager(nil); err == nil {
		t.Fatal("nil store accepted")
	}
	if _, err := halt.NewQuotaManager(halttest.FailingStore{}); !errors.Is(err, halt.ErrUnsupported) {
		t.Fatalf("a store without quotas: %v, want ErrUnsupported", err)
	}
	m, err := halt.NewQuotaManager(halttest.NewMapStore())
	if err != nil {
		t.Fatal(err)
	}
	var pe *halt.PolicyError
	if _, err := m.Consume(ctx, halt.Quota{Name: "q", Period: halt.Daily}, "u", 1); !errors.As(err, &pe) || pe.Field != "Limit" {
		t.Fatalf("invalid quota: %v", err)
	}
	q := halt.Quota{Name: "q", Limit: 5, Period: halt.Daily}
	if _, err := m.Consume(ctx, q, "u", -1); !errors.Is(err, halt.ErrInvalidAmount) {
		t.Fatalf("negative cost: %v", err)
	}
	if _, err := m.Grant(ctx, q, "u", -1); !errors.Is(err, halt.ErrInvalidAmount) {
		t.Fatalf("negative grant: %v", err)
	}
}
