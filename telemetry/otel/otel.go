package haltotel

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	halt "github.com/halt-go/halt/core"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Outcome attribute values of halt.requests.
const (
	OutcomeAllowed       = "allowed"
	OutcomeBlocked       = "blocked"
	OutcomeExempt        = "exempt"
	OutcomeSkipped       = "skipped"
	OutcomeShadowBlocked = "shadow_blocked"
	OutcomeError         = "error"
)

// DefaultStore is the store attribute of store notices that name no store.
const DefaultStore = "default"

// Attribute keys.
const (
	PolicyKey  = attribute.Key("policy")
	OutcomeKey = attribute.Key("outcome")
	StoreKey   = attribute.Key("store")
	KindKey    = attribute.Key("kind")
)

type outcome uint8

const (
	allowed outcome = iota
	blocked
	exempt
	skipped
	shadowBlocked
	failed
	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	allowed:       OutcomeAllowed,
	blocked:       OutcomeBlocked,
	exempt:        OutcomeExempt,
	skipped:       OutcomeSkipped,
	shadowBlocked: OutcomeShadowBlocked,
	failed:        OutcomeError,
}

// fromCore maps the outcomes OnRequest counts; the failure mode's
// decisions (halt.OutcomeFailed) are counted by OnError.
var fromCore = [...]outcome{
	halt.OutcomeAllowed: allowed,
	halt.OutcomeBlocked: blocked,
	halt.OutcomeExempt:  exempt,
	halt.OutcomeSkipped: skipped,
}

// Telemetry is a [halt.Telemetry], [halt.RequestCounter] and
// [halt.StoreTimer] that records what the limiters report with
// OpenTelemetry instruments (see the package documentation). Create it
// with [New]. It is safe for concurrent use. The attribute sets of each
// policy and store are built once, the first time it is seen, so
// reporting a request builds none.
type Telemetry struct {
	requests  metric.Int64Counter
	duration  metric.Float64Histogram
	storeErrs metric.Int64Counter
	notices   metric.Int64Counter

	policies    series[*[numOutcomes][]metric.AddOption]
	stores      series[*storeSeries]
	maxPolicies int
}

// storeSeries is what is kept of one store attribute value.
type storeSeries struct {
	add     []metric.AddOption
	record  []metric.RecordOption
	observe []metric.ObserveOption
	up      atomic.Int64
}

var (
	_ halt.Telemetry      = (*Telemetry)(nil)
	_ halt.StoreTimer     = (*Telemetry)(nil)
	_ halt.RequestCounter = (*Telemetry)(nil)
)

// New returns a Telemetry whose instruments come from the configured
// meter provider's meter [ScopeName]; nil options are ignored. The error
// is the provider's, when it refused an instrument (the Telemetry then
// records with the instruments it got).
func New(opts ...Option) (*Telemetry, error) {
	c := newConfig(opts)
	m := c.provider.Meter(ScopeName, metric.WithInstrumentationVersion(Version))
	t := &Telemetry{maxPolicies: c.maxPolicies}
	var err, e error
	t.requests, e = m.Int64Counter("halt.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Requests the rate limiters saw, by policy and outcome (allowed, blocked, exempt, skipped, shadow_blocked, error)."))
	err = errors.Join(err, e)
	t.duration, e = m.Float64Histogram("halt.store.duration", metric.WithUnit("s"),
		metric.WithDescription("How long the store took to decide a request."),
		metric.WithExplicitBucketBoundaries(c.buckets...))
	err = errors.Join(err, e)
	t.storeErrs, e = m.Int64Counter("halt.store.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Store calls that failed."))
	err = errors.Join(err, e)
	t.notices, e = m.Int64Counter("halt.notices", metric.WithUnit("{notice}"),
		metric.WithDescription("Notices the limiters and stores reported, by kind."))
	err = errors.Join(err, e)
	_, e = m.Int64ObservableGauge("halt.store.up", metric.WithUnit("1"),
		metric.WithDescription("1 while the store is reachable, 0 after it reported itself down."),
		metric.WithInt64Callback(t.observeUp))
	err = errors.Join(err, e)
	return t, err
}

func (t *Telemetry) observeUp(_ context.Context, o metric.Int64Observer) error {
	for _, s := range t.stores.all() {
		o.Observe(s.up.Load(), s.observe...)
	}
	return nil
}

// OnCheck counts exempt and skipped requests; the other outcomes are
// counted by OnAllowed, OnBlocked and OnError.
func (t *Telemetry) OnCheck(ctx context.Context, e halt.Event) {
	switch e.Decision.Reason {
	case halt.ReasonExempt:
		t.count(ctx, e.Policy, exempt)
	case halt.ReasonSkipped:
		t.count(ctx, e.Policy, skipped)
	}
}

// OnRequest counts a request by its outcome, in one call: the limiter
// calls it instead of OnCheck and OnAllowed or OnBlocked. A request the
// failure mode decided is counted by OnError.
func (t *Telemetry) OnRequest(ctx context.Context, policy string, o halt.Outcome) {
	if o != halt.OutcomeFailed && int(o) < len(fromCore) {
		t.count(ctx, policy, fromCore[o])
	}
}

// OnAllowed counts an allowed request.
func (t *Telemetry) OnAllowed(ctx context.Context, e halt.Event) { t.count(ctx, e.Policy, allowed) }

// OnBlocked counts a blocked request, or a shadow policy's would-be
// rejection.
func (t *Telemetry) OnBlocked(ctx context.Context, e halt.Event) {
	o := blocked
	if e.Shadow {
		o = shadowBlocked
	}
	t.count(ctx, e.Policy, o)
}

// OnError counts a store error, and the request as an error when the
// failure mode decided it (not the fallback store, whose decision reaches
// OnAllowed or OnBlocked, and not a shadow policy).
func (t *Telemetry) OnError(ctx context.Context, e halt.Event, _ error) {
	t.storeErrs.Add(ctx, 1, t.store(e.Store).add...)
	if !e.Shadow && e.Decision.Reason == halt.ReasonStoreError {
		t.count(ctx, e.Policy, failed)
	}
}

// OnNotice counts the notice by kind, and switches halt.store.up on
// NoticeStoreDown and NoticeStoreUp.
func (t *Telemetry) OnNotice(ctx context.Context, n halt.Notice) {
	t.notices.Add(ctx, 1, metric.WithAttributes(KindKey.String(string(n.Kind))))
	switch n.Kind {
	case halt.NoticeStoreDown:
		t.store(noticeStore(n)).up.Store(0)
	case halt.NoticeStoreUp:
		t.store(noticeStore(n)).up.Store(1)
	}
}

// OnStoreDuration records how long a store decision took.
func (t *Telemetry) OnStoreDuration(ctx context.Context, store string, d time.Duration) {
	t.duration.Record(ctx, d.Seconds(), t.store(store).record...)
}

func (t *Telemetry) count(ctx context.Context, policy string, o outcome) {
	t.requests.Add(ctx, 1, t.policy(policy)[o]...)
}

// noticeStore is the store a notice names with a string attribute
// "store", else DefaultStore.
func noticeStore(n halt.Notice) string {
	for _, a := range n.Attrs {
		if a.Key == "store" && a.Value.Kind() == slog.KindString && a.Value.String() != "" {
			return a.Value.String()
		}
	}
	return DefaultStore
}

// policy returns the attribute options of a policy's outcomes, built on
// first sight (up to maxPolicies names; the rest share OtherPolicy's).
func (t *Telemetry) policy(name string) *[numOutcomes][]metric.AddOption {
	if p, ok := t.policies.load(name); ok {
		return p
	}
	return t.policies.loadOrCreate(name, t.maxPolicies, OtherPolicy, func(name string) *[numOutcomes][]metric.AddOption {
		var p [numOutcomes][]metric.AddOption
		for o := range numOutcomes {
			set := attribute.NewSet(PolicyKey.String(name), OutcomeKey.String(outcomeNames[o]))
			p[o] = []metric.AddOption{metric.WithAttributeSet(set)}
		}
		return &p
	})
}

// store returns what is kept of a store name, created on first sight with
// halt.store.up at 1. Store names are few (the limiters' stores and
// fallback stores), so they are not capped.
func (t *Telemetry) store(name string) *storeSeries {
	if name == "" {
		name = DefaultStore
	}
	if s, ok := t.stores.load(name); ok {
		return s
	}
	return t.stores.loadOrCreate(name, 0, "", func(name string) *storeSeries {
		opt := metric.WithAttributeSet(attribute.NewSet(StoreKey.String(name)))
		s := &storeSeries{
			add:     []metric.AddOption{opt},
			record:  []metric.RecordOption{opt},
			observe: []metric.ObserveOption{opt},
		}
		s.up.Store(1)
		return s
	})
}

// series maps attribute values to what was built for them. Readers load
// an immutable table through an atomic pointer, without a lock; the rare
// writer (a name seen for the first time) copies it. A handful of names
// (the usual case: a few policies, one or two stores) are found by a
// linear scan, whose comparisons are cheap because the limiter passes the
// same strings each time; more go through a map.
type series[V any] struct {
	t  atomic.Pointer[table[V]]
	mu sync.Mutex // serializes writers
}

type table[V any] struct {
	names []string
	vals  []V
	index map[string]int // set beyond linearMax names
}

// linearMax is how many names a table scans before it indexes them.
const linearMax = 8

// all returns the values in the order their names were first seen.
func (s *series[V]) all() []V {
	if t := s.t.Load(); t != nil {
		return t.vals
	}
	return nil
}

func (s *series[V]) load(name string) (V, bool) {
	if t := s.t.Load(); t != nil {
		if t.index == nil {
			for i, n := range t.names {
				if n == name {
					return t.vals[i], true
				}
			}
		} else if i, ok := t.index[name]; ok {
			return t.vals[i], true
		}
	}
	var zero V
	return zero, false
}

// loadOrCreate returns the value of name, creating it with create. When
// the table already holds limit names (limit > 0), name is not added and
// the value of other is returned (created if need be).
func (s *series[V]) loadOrCreate(name string, limit int, other string, create func(string) V) V {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.load(name); ok {
		return v
	}
	old := s.t.Load()
	if old == nil {
		old = &table[V]{}
	}
	if limit > 0 && len(old.names) >= limit {
		if v, ok := s.load(other); ok {
			return v
		}
		name = other
	}
	v := create(name)
	next := &table[V]{
		names: append(old.names[:len(old.names):len(old.names)], name),
		vals:  append(old.vals[:len(old.vals):len(old.vals)], v),
	}
	if len(next.names) > linearMax {
		next.index = make(map[string]int, len(next.names))
		for i, n := range next.names {
			next.index[n] = i
		}
	}
	s.t.Store(next)
	return v
}
