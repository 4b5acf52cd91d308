package halt_test

import (
	"context"
	"sync"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

// decisions is a RequestCounter that tallies outcomes, and fails the test
// if the limiter also calls OnCheck, OnAllowed or OnBlocked for a request.
type decisions struct {
	halt.NopTelemetry
	mu                                      sync.Mutex
	allowed, blocked, exempt, failed, other int
	legacy                                  int
}

func (s *decisions) OnRequest(_ context.Context, policy string, o halt.Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if policy == "" {
		s.other += 100
	}
	switch o {
	case halt.OutcomeExempt:
		s.exempt++
	case halt.OutcomeFailed:
		s.failed++
	case halt.OutcomeSkipped:
		s.other++
	case halt.OutcomeAllowed:
		s.allowed++
	default:
		s.blocked++
	}
}

func (s *decisions) OnCheck(context.Context, halt.Event)   { s.mu.Lock(); s.legacy++; s.mu.Unlock() }
func (s *decisions) OnAllowed(context.Context, halt.Event) { s.mu.Lock(); s.legacy++; s.mu.Unlock() }
func (s *decisions) OnBlocked(context.Context, halt.Event) { s.mu.Lock(); s.legacy++; s.mu.Unlock() }

// A RequestCounter hears each request once, through OnRequest, alone or
// beside a sink that implements only Telemetry (which still hears OnCheck
// and OnAllowed or OnBlocked); neither path allocates.
func TestRequestCounter(t *testing.T) {
	ds, rec := &decisions{}, &recorder{}
	l, err := halt.New(newMapStore(), halt.Policy{Name: "d", Limit: 1, Window: time.Hour},
		halt.WithTelemetry(ds, rec), halt.WithClock(halttest.NewClock(halttest.Base)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, peer := range []string{"203.0.113.1:1", "203.0.113.1:1", "127.0.0.1:1"} {
		_, _ = l.Check(ctx, req(peer))
	}
	if ds.allowed != 1 || ds.blocked != 1 || ds.exempt != 1 || ds.legacy != 0 {
		t.Fatalf("request counter heard %+v", ds)
	}
	if rec.checks != 3 || rec.allowed != 1 || rec.blocked != 1 {
		t.Fatalf("Telemetry sink heard %+v", rec)
	}

	alone := &decisions{}
	l, err = halt.New(newMapStore(), halt.Policy{Name: "d", Limit: 1 << 30, Window: time.Hour},
		halt.WithTelemetry(alone), halt.WithClock(halttest.NewClock(halttest.Base)))
	if err != nil {
		t.Fatal(err)
	}
	r := req("203.0.113.1:1")
	_, _ = l.Check(ctx, r)
	if allocs := testing.AllocsPerRun(100, func() { _, _ = l.Check(ctx, r) }); allocs > 0 {
		t.Fatalf("a check reported to a RequestCounter allocates %.1f times", allocs)
	}
	if alone.allowed != 102 || alone.legacy != 0 {
		t.Fatalf("request counter heard %+v", alone)
	}

	for _, mode := range []halt.FailureMode{halt.FailOpen, halt.FailClosed} {
		failing := &decisions{}
		l, err := halt.New(halttest.FailingStore{}, halt.Policy{Name: "f", Limit: 1, Window: time.Minute},
			halt.WithFailureMode(mode), halt.WithTelemetry(failing))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = l.Check(ctx, req("203.0.113.1:1"))
		if failing.failed != 1 || failing.allowed+failing.blocked != 0 || failing.legacy != 0 {
			t.Fatalf("%v: request counter heard %+v", mode, failing)
		}
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[halt.Outcome]string{halt.OutcomeAllowed: "allowed", halt.OutcomeBlocked: "blocked",
		halt.OutcomeExempt: "exempt", halt.OutcomeSkipped: "skipped", halt.OutcomeFailed: "error", 99: "unknown"} {
		if o.String() != want {
			t.Errorf("%d: %q, want %q", o, o.String(), want)
		}
	}
}
