package halt_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

func TestInOrderStoreSuite(t *testing.T) {
	halttest.RunStoreTests(t, func(*testing.T) halt.Store { return halttest.InOrder(halttest.NewMapStore()) })
}

var (
	searchSecond = halt.Policy{Name: "search_second", Limit: 2, Window: time.Second, Burst: 2}
	searchHour   = halt.Policy{Name: "search_hour", Limit: 20, Window: time.Hour, Burst: 20}
)

// Several policies on one limiter: all or nothing, in one atomic call or
// in order with refunds; the most restrictive decision is reported, and
// the IETF style lists every policy.
func TestSeveralPolicies(t *testing.T) {
	for name, store := range map[string]halt.Store{"TakeAll": newMapStore(), "InOrder": halttest.InOrder(newMapStore())} {
		t.Run(name, func(t *testing.T) {
			l, err := halt.New(store, searchSecond, halt.WithPolicies(searchHour),
				halt.WithClock(halttest.NewClock(halttest.Base)), halt.WithHeaderStyle(halt.IETF))
			if err != nil {
				t.Fatal(err)
			}
			r := req("203.0.113.1:1")
			var ds []halt.Decision
			for i := 0; i < 3; i++ {
				d, err := l.Check(context.Background(), r)
				if err != nil {
					t.Fatal(err)
				}
				ds = append(ds, d)
			}
			if !ds[0].Allowed || !ds[1].Allowed || ds[2].Allowed || ds[2].Policy != "search_second" {
				t.Fatalf("decisions %+v", ds)
			}
			if ds[1].Policy != "search_second" || ds[1].Remaining != 0 {
				t.Fatalf("second decision: %+v, want search_second with 0 remaining", ds[1])
			}
			h := http.Header{}
			halt.IETF.Write(h, ds[2])
			if got := strings.Join(h.Values("Ratelimit"), ", "); got != `"search_second";r=0;t=1, "search_hour";r=18;t=360` {
				t.Fatalf("RateLimit %q", got)
			}
			if got := strings.Join(h.Values("Ratelimit-Policy"), ", "); got != `"search_second";q=2;w=1, "search_hour";q=20;w=3600` {
				t.Fatalf("RateLimit-Policy %q", got)
			}
			st, err := l.Standing(context.Background(), r)
			if err != nil || len(st) != 2 || st[1].Policy != "search_hour" || st[1].Remaining != 18 || st[0].Remaining != 0 {
				t.Fatalf("standing %+v %v: search_hour must still have 18", st, err)
			}
			body, err := halt.StatusJSON(context.Background(), r, l)
			want := `{"policies":[{"name":"search_second","limit":2,"remaining":0,"reset":1},{"name":"search_hour","limit":20,"remaining":18,"reset":360}]}`
			if err != nil || string(body) != want {
				t.Fatalf("status %s %v\nwant %s", body, err, want)
			}
		})
	}
}

// Policies keying different things are decided in order, and what the
// earlier ones took is given back when a later one rejects.
func TestSeveralPoliciesMixedKeys(t *testing.T) {
	perKey := halt.Policy{Name: "per_key", Limit: 2, Window: time.Minute, KeyStrategy: halt.KeyAPIKey}
	perIP := halt.Policy{Name: "per_ip", Limit: 1, Window: time.Minute}
	l, err := halt.New(newMapStore(), perKey, halt.WithPolicies(perIP),
		halt.WithClock(halttest.NewClock(halttest.Base)))
	if err != nil {
		t.Fatal(err)
	}
	check := func(peer, key string) halt.Decision {
		d, err := l.Check(context.Background(), req(peer, "X-API-Key: "+key))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := check("203.0.113.1:1", "A"); !d.Allowed {
		t.Fatal(d)
	}
	if d := check("203.0.113.2:1", "A"); !d.Allowed || d.Policy != "per_key" || d.Remaining != 0 {
		t.Fatalf("A from a second IP: %+v", d)
	}
	// B from the first IP: per_key admits, per_ip rejects: B is given back.
	if d := check("203.0.113.1:1", "B"); d.Allowed || d.Policy != "per_ip" {
		t.Fatalf("B from a used IP: %+v", d)
	}
	st, _ := l.Standing(context.Background(), req("203.0.113.9:1", "X-API-Key: B"))
	if st[0].Policy != "per_key" || st[0].Remaining != 2 {
		t.Fatalf("B after the rejection: %+v, want its whole allowance", st)
	}
	// A is used up: rejected by per_key, the fresh IP is not charged.
	if d := check("203.0.113.3:1", "A"); d.Allowed || d.Policy != "per_key" {
		t.Fatalf("third A: %+v", d)
	}
	st, _ = l.Standing(context.Background(), req("203.0.113.3:1", "X-API-Key: C"))
	if st[1].Remaining != 1 {
		t.Fatalf("per_ip of the fresh IP after a rejection: %+v", st)
	}
}

// All or nothing under concurrency, through the limiter.
func TestSeveralPoliciesConcurrent(t *testing.T) {
	for name, store := range map[string]halt.Store{"TakeAll": newMapStore(), "InOrder": halttest.InOrder(newMapStore())} {
		t.Run(name, func(t *testing.T) {
			tight := halt.Policy{Name: "tight", Limit: 10, Window: time.Hour}
			loose := halt.Policy{Name: "loose", Limit: 30, Window: time.Hour}
			l, err := halt.New(store, loose, halt.WithPolicies(tight), halt.WithClock(halttest.NewClock(halttest.Base)))
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			admitted := 0
			var wg sync.WaitGroup
			for w := 0; w < 64; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 4; i++ {
						if d, _ := l.Check(context.Background(), req("203.0.113.1:1")); d.Allowed {
							mu.Lock()
							admitted++
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			st, _ := l.Standing(context.Background(), req("203.0.113.1:1"))
			if admitted != 10 || st[0].Remaining != 20 || st[1].Remaining != 0 {
				t.Fatalf("admitted %d (want 10); standing %+v (want loose 20, tight 0)", admitted, st)
			}
		})
	}
}

// A shadow policy never rejects and never renders, but reports what it
// would have blocked.
func TestShadowPolicy(t *testing.T) {
	tel := &shadowRecorder{}
	beta := halt.Policy{Name: "beta_shadow", Limit: 1, Window: time.Minute, Shadow: true}
	l, err := halt.New(newMapStore(), beta, halt.WithTelemetry(tel), halt.WithClock(halttest.NewClock(halttest.Base)))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		d, err := l.Check(context.Background(), req("203.0.113.1:1"))
		if err != nil || !d.Allowed || d.HasHeaders() {
			t.Fatalf("request %d: %+v %v: want allowed without headers", i, d, err)
		}
	}
	if tel.shadowBlocked != 2 || tel.blocked != 0 {
		t.Fatalf("shadow would-blocks %d (want 2), real blocks %d", tel.shadowBlocked, tel.blocked)
	}
	// beside an enforcing policy: the enforcing one decides and renders
	pub := halt.Policy{Name: "public", Limit: 5, Window: time.Minute}
	l, err = halt.New(newMapStore(), pub, halt.WithPolicies(beta), halt.WithClock(halttest.NewClock(halttest.Base)),
		halt.WithTelemetry(tel))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		d, _ := l.Check(context.Background(), req("203.0.113.1:1"))
		if !d.Allowed || d.Policy != "public" || d.Remaining != int64(4-i) || len(d.Policies()) != 1 {
			t.Fatalf("request %d: %+v", i, d)
		}
	}
	if tel.shadowBlocked != 4 {
		t.Fatalf("shadow would-blocks %d, want 4", tel.shadowBlocked)
	}
}

type shadowRecorder struct {
	halt.NopTelemetry
	blocked, shadowBlocked int
}

func (r *shadowRecorder) OnBlocked(_ context.Context, e halt.Event) {
	if e.Shadow {
		r.shadowBlocked++
	} else {
		r.blocked++
	}
}

// Undo gives back what a check took: the stacking guarantee's core.
func TestUndo(t *testing.T) {
	l := newLimiter(t, halt.Policy{Name: "u", Limit: 10, Window: time.Minute})
	r := req("203.0.113.1:1")
	d, _ := l.Check(context.Background(), r, halt.WithCost(3))
	if d.Remaining != 2 {
		t.Fatalf("%+v", d)
	}
	if err := l.Undo(context.Background(), r, &d); err != nil {
		t.Fatal(err)
	}
	if p, _ := l.Peek(context.Background(), r, 0); p.Remaining != 10 {
		t.Fatalf("after Undo: %+v, want the whole limit", p)
	}
	if err := l.Undo(context.Background(), r, nil); err != nil {
		t.Fatalf("Undo of a nil decision: %v", err)
	}
	if err := l.Undo(context.Background(), nil, &d); !errors.Is(err, halt.ErrNilRequest) {
		t.Fatalf("Undo of a nil request: %v", err)
	}
	// a rejected or exempt decision took nothing: Undo does nothing
	rejected := halt.Decision{}
	if err := l.Undo(context.Background(), r, &rejected); err != nil {
		t.Fatal(err)
	}
	if p, _ := l.Peek(context.Background(), r, 0); p.Remaining != 10 {
		t.Fatalf("after a no-op Undo: %+v", p)
	}
	// several policies: each is given back
	m, err := halt.New(newMapStore(), searchSecond, halt.WithPolicies(searchHour),
		halt.WithClock(halttest.NewClock(halttest.Base)))
	if err != nil {
		t.Fatal(err)
	}
	d, _ = m.Check(context.Background(), r)
	if err := m.Undo(context.Background(), r, &d); err != nil {
		t.Fatal(err)
	}
	st, _ := m.Standing(context.Background(), r)
	if st[0].Remaining != 2 || st[1].Remaining != 20 {
		t.Fatalf("after Undo of two policies: %+v", st)
	}
}

// Limiters with several policies are checked at construction.
func TestSeveralPoliciesConstruction(t *testing.T) {
	if _, err := halt.New(newMapStore(), searchSecond, halt.WithPolicies(searchSecond)); err == nil ||
		!strings.Contains(err.Error(), "two policies are named") {
		t.Fatalf("duplicate names: %v", err)
	}
	if _, err := halt.New(nopStore{}, searchSecond, halt.WithPolicies(searchHour)); err == nil ||
		!strings.Contains(err.Error(), "MultiTaker") {
		t.Fatalf("a store with neither capability: %v", err)
	}
	if _, err := halt.New(newMapStore(), searchSecond, halt.WithPolicies(halt.Policy{Name: "bad"})); err == nil {
		t.Fatal("invalid extra policy accepted")
	}
	l := newLimiter(t, searchSecond)
	if err := l.Reset(context.Background(), req("203.0.113.1:1"), "nope"); err != nil {
		t.Fatalf("Reset of an unknown policy name: %v", err)
	}
}

// counter counts events and times, allocating nothing.
type counter struct {
	halt.NopTelemetry
	checks, allowed int
	durations       int
	store           string
}

func (c *counter) OnCheck(_ context.Context, e halt.Event) { c.checks++; c.store = e.Store }
func (c *counter) OnAllowed(context.Context, halt.Event)   { c.allowed++ }
func (c *counter) OnStoreDuration(_ context.Context, _ string, d time.Duration) {
	if d >= 0 {
		c.durations++
	}
}

// Several sinks at once: each hears every event, store durations reach
// the sinks that time them, and the allowed path allocates nothing.
func TestTelemetryFanOut(t *testing.T) {
	a, b := &counter{}, &counter{}
	l, err := halt.New(newMapStore(), halt.Policy{Name: "fan", Limit: 1 << 30, Window: time.Hour},
		halt.WithTelemetry(a, nil, halt.Telemetries(b)), halt.WithClock(halttest.NewClock(halttest.Base)))
	if err != nil {
		t.Fatal(err)
	}
	r := req("203.0.113.1:1")
	_, _ = l.Check(context.Background(), r)
	allocs := testing.AllocsPerRun(100, func() { _, _ = l.Check(context.Background(), r) })
	if a.checks != 102 || b.checks != 102 || a.allowed != 102 || a.durations != 102 || b.durations != 102 {
		t.Fatalf("sinks heard %+v, %+v", a, b)
	}
	rec := &recorder{}
	l2, err := halt.New(newMapStore(), halt.Policy{Name: "fan", Limit: 10, Window: time.Hour},
		halt.WithTelemetry(a, rec), halt.WithClock(halttest.NewClock(halttest.Base)))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = l2.Check(context.Background(), r)
	if a.store != "*halttest.MapStore" || rec.checks != 1 || rec.keys[0] != "ip:203.0.113.1" {
		t.Fatalf("Event.Store %q, %d checks, keys %q", a.store, rec.checks, rec.keys)
	}
	if allocs > 0 {
		t.Fatalf("the allowed path with three sinks allocates %.1f times per check", allocs)
	}
}

// Undo never credits another key: when the request's key changed since the
// check (a later middleware set the user), nothing is given back.
func TestUndoKeyChanged(t *testing.T) {
	l := newLimiter(t, halt.Policy{Name: "u", Limit: 10, Window: time.Minute, KeyStrategy: halt.KeyUser})
	r := req("203.0.113.1:1") // anonymous: counted under its IP
	d, _ := l.Check(context.Background(), r)
	if !d.Counted() || d.Remaining != 9 {
		t.Fatalf("%+v", d)
	}
	r.Values = map[any]any{"user_id": "alice"} // now the key is user:alice
	if err := l.Undo(context.Background(), r, &d); err != nil {
		t.Fatal(err)
	}
	if st, _ := l.Standing(context.Background(), r); st[0].Remaining != 10 {
		t.Fatalf("alice was credited: %+v", st)
	}
	r.Values = nil
	if st, _ := l.Standing(context.Background(), r); st[0].Remaining != 9 {
		t.Fatalf("the IP key: %+v, want still charged", st)
	}
}

// Bad statuses and reasons are refused at construction.
func TestRejectStatusRefused(t *testing.T) {
	p := halt.Policy{Name: "s", Limit: 1, Window: time.Minute}
	for _, o := range []halt.Option{
		halt.WithRejectStatus(halt.ReasonLimited, 200),
		halt.WithRejectStatus(halt.ReasonLimited, 600),
		halt.WithRejectStatus(halt.ReasonAllowed, 429),
		halt.WithFailClosedStatus(500),
	} {
		if _, err := halt.New(newMapStore(), p, o); err == nil {
			t.Errorf("option accepted: %v", o)
		}
	}
}
