package haltprom

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/prometheus/client_golang/prometheus"
)

// Outcome label values of halt_requests_total.
const (
	OutcomeAllowed       = "allowed"
	OutcomeBlocked       = "blocked"
	OutcomeExempt        = "exempt"
	OutcomeSkipped       = "skipped"
	OutcomeShadowBlocked = "shadow_blocked"
	OutcomeError         = "error"
)

// DefaultStore is the store label of store notices that name no store.
const DefaultStore = "default"

// outcome indexes the counters of one policy.
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
// [halt.StoreTimer] that counts what the limiters report, and a
// [prometheus.Collector] that exports it (see the package documentation
// for the metrics). Create it with [New] and
// register it on one registry. It is safe for concurrent use, and
// reporting a request allocates nothing once its policy and store have
// been seen.
type Telemetry struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.Desc
	bounds    []float64 // the duration buckets' upper bounds, in seconds
	boundsNs  []int64   // the same in nanoseconds
	storeErrs *prometheus.CounterVec
	storeUp   *prometheus.GaugeVec
	notices   *prometheus.CounterVec

	policies    series[*[numOutcomes]prometheus.Counter]
	stores      series[*storeSeries]
	maxPolicies int
}

// storeSeries are the series of one store label value.
type storeSeries struct {
	name     string
	duration *histogram
	errors   prometheus.Counter
	up       prometheus.Gauge
}

var (
	_ halt.Telemetry       = (*Telemetry)(nil)
	_ halt.StoreTimer      = (*Telemetry)(nil)
	_ halt.RequestCounter  = (*Telemetry)(nil)
	_ prometheus.Collector = (*Telemetry)(nil)
)

// New returns a Telemetry configured by opts; nil options are ignored.
func New(opts ...Option) *Telemetry {
	c := newConfig(opts)
	name := func(n string) string { return prometheus.BuildFQName(c.namespace, "halt", n) }
	return &Telemetry{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        name("requests_total"),
			Help:        "Requests the rate limiters saw, by policy and outcome (allowed, blocked, exempt, skipped, shadow_blocked, error).",
			ConstLabels: c.constLabels,
		}, []string{"policy", "outcome"}),
		duration: prometheus.NewDesc(name("store_duration_seconds"),
			"How long the store took to decide a request.", []string{"store"}, c.constLabels),
		bounds:   c.buckets,
		boundsNs: nanoseconds(c.buckets),
		storeErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        name("store_errors_total"),
			Help:        "Store calls that failed.",
			ConstLabels: c.constLabels,
		}, []string{"store"}),
		storeUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name:        name("store_up"),
			Help:        "1 while the store is reachable, 0 after it reported itself down.",
			ConstLabels: c.constLabels,
		}, []string{"store"}),
		notices: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        name("notices_total"),
			Help:        "Notices the limiters and stores reported, by kind.",
			ConstLabels: c.constLabels,
		}, []string{"kind"}),
		maxPolicies: c.maxPolicies,
	}
}

// Describe implements prometheus.Collector.
func (t *Telemetry) Describe(ch chan<- *prometheus.Desc) {
	t.requests.Describe(ch)
	ch <- t.duration
	t.storeErrs.Describe(ch)
	t.storeUp.Describe(ch)
	t.notices.Describe(ch)
}

// Collect implements prometheus.Collector.
func (t *Telemetry) Collect(ch chan<- prometheus.Metric) {
	t.requests.Collect(ch)
	for _, s := range t.stores.all() {
		count, sum, buckets := s.duration.snapshot(t.bounds)
		ch <- prometheus.MustNewConstHistogram(t.duration, count, sum, buckets, s.name)
	}
	t.storeErrs.Collect(ch)
	t.storeUp.Collect(ch)
	t.notices.Collect(ch)
}

// OnRequest counts a request by its outcome, in one call: the limiter
// calls it instead of OnCheck and OnAllowed or OnBlocked. A request the
// failure mode decided is counted by OnError.
func (t *Telemetry) OnRequest(_ context.Context, policy string, o halt.Outcome) {
	if o != halt.OutcomeFailed && int(o) < len(fromCore) {
		t.policy(policy)[fromCore[o]].Inc()
	}
}

// OnCheck counts exempt and skipped requests; the other outcomes are
// counted by OnAllowed, OnBlocked and OnError.
func (t *Telemetry) OnCheck(_ context.Context, e halt.Event) {
	switch e.Decision.Reason {
	case halt.ReasonExempt:
		t.policy(e.Policy)[exempt].Inc()
	case halt.ReasonSkipped:
		t.policy(e.Policy)[skipped].Inc()
	}
}

// OnAllowed counts an allowed request.
func (t *Telemetry) OnAllowed(_ context.Context, e halt.Event) {
	t.policy(e.Policy)[allowed].Inc()
}

// OnBlocked counts a blocked request, or a shadow policy's would-be
// rejection.
func (t *Telemetry) OnBlocked(_ context.Context, e halt.Event) {
	o := blocked
	if e.Shadow {
		o = shadowBlocked
	}
	t.policy(e.Policy)[o].Inc()
}

// OnError counts a store error, and the request as an error when the
// failure mode decided it (not the fallback store, whose decision reaches
// OnAllowed or OnBlocked, and not a shadow policy).
func (t *Telemetry) OnError(_ context.Context, e halt.Event, _ error) {
	t.store(e.Store).errors.Inc()
	if !e.Shadow && e.Decision.Reason == halt.ReasonStoreError {
		t.policy(e.Policy)[failed].Inc()
	}
}

// OnNotice counts the notice by kind, and switches halt_store_up on
// NoticeStoreDown and NoticeStoreUp.
func (t *Telemetry) OnNotice(_ context.Context, n halt.Notice) {
	t.notices.WithLabelValues(string(n.Kind)).Inc()
	switch n.Kind {
	case halt.NoticeStoreDown:
		t.store(noticeStore(n)).up.Set(0)
	case halt.NoticeStoreUp:
		t.store(noticeStore(n)).up.Set(1)
	}
}

// OnStoreDuration observes how long a store decision took.
func (t *Telemetry) OnStoreDuration(_ context.Context, store string, d time.Duration) {
	t.store(store).duration.observe(t.boundsNs, d)
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

// policy returns the request counters of a policy name, creating them on
// first sight (up to maxPolicies names; the rest share OtherPolicy's).
func (t *Telemetry) policy(name string) *[numOutcomes]prometheus.Counter {
	if c, ok := t.policies.load(name); ok {
		return c
	}
	return t.policies.loadOrCreate(name, t.maxPolicies, OtherPolicy, func(name string) *[numOutcomes]prometheus.Counter {
		var c [numOutcomes]prometheus.Counter
		for o := range numOutcomes {
			c[o] = t.requests.WithLabelValues(name, outcomeNames[o])
		}
		return &c
	})
}

// store returns the series of a store name, creating them on first sight
// with halt_store_up at 1. Store names are few (the limiters' stores and
// fallback stores), so they are not capped.
func (t *Telemetry) store(name string) *storeSeries {
	if name == "" {
		name = DefaultStore
	}
	if s, ok := t.stores.load(name); ok {
		return s
	}
	return t.stores.loadOrCreate(name, 0, "", func(name string) *storeSeries {
		s := &storeSeries{
			name:     name,
			duration: newHistogram(len(t.bounds)),
			errors:   t.storeErrs.WithLabelValues(name),
			up:       t.storeUp.WithLabelValues(name),
		}
		s.up.Set(1)
		return s
	})
}

// series maps label values to their pre-resolved metrics. Readers load
// an immutable table through an atomic pointer, without a lock; the rare
// writer (a name seen for the first time) copies it. A handful of names
// (the usual case: a few policies, one or two stores) are found by a
// linear scan, whose comparisons are cheap because the limiter passes the
// same strings each time; more go through a map. Either way the request
// path neither locks nor hashes label values as WithLabelValues does.
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
