package haltotel_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	haltotel "github.com/halt-go/halt/telemetry/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// setup returns a Telemetry on a meter provider read by a manual reader.
func setup(t *testing.T, opts ...haltotel.Option) (*haltotel.Telemetry, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	sink, err := haltotel.New(append([]haltotel.Option{haltotel.WithMeterProvider(mp)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return sink, reader
}

func newLimiter(t *testing.T, store halt.Store, p halt.Policy, opts ...halt.Option) *halt.Limiter {
	t.Helper()
	opts = append([]halt.Option{halt.WithClock(halttest.NewClock(halttest.Base))}, opts...)
	l, err := halt.New(store, p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// send checks n requests for path from ip.
func send(t *testing.T, l *halt.Limiter, path, ip string, n int) {
	t.Helper()
	for range n {
		_, _ = l.Check(t.Context(), &halttest.FakeRequest{URLPath: path, Peer: ip + ":4321"})
	}
}

// collected is one collection, by instrument name.
type collected struct {
	scope   string
	version string
	metrics map[string]metricdata.Metrics
}

func collect(t *testing.T, r *sdkmetric.ManualReader) collected {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	c := collected{metrics: map[string]metricdata.Metrics{}}
	for _, sm := range rm.ScopeMetrics {
		c.scope, c.version = sm.Scope.Name, sm.Scope.Version
		for _, m := range sm.Metrics {
			c.metrics[m.Name] = m
		}
	}
	return c
}

// matches reports whether set has every "k=v" of labels.
func matches(set attribute.Set, labels []string) bool {
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		if got, ok := set.Value(attribute.Key(k)); !ok || got.AsString() != v {
			return false
		}
	}
	return true
}

// value sums the points of a counter or gauge whose attributes match
// labels; -1 when there is none.
func (c collected) value(name string, labels ...string) int64 {
	var sum int64
	found := false
	switch d := c.metrics[name].Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			if matches(p.Attributes, labels) {
				sum, found = sum+p.Value, true
			}
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			if matches(p.Attributes, labels) {
				sum, found = sum+p.Value, true
			}
		}
	}
	if !found {
		return -1
	}
	return sum
}

// histogram returns the point of a histogram whose attributes match labels.
func (c collected) histogram(name string, labels ...string) (metricdata.HistogramDataPoint[float64], bool) {
	if d, ok := c.metrics[name].Data.(metricdata.Histogram[float64]); ok {
		for _, p := range d.DataPoints {
			if matches(p.Attributes, labels) {
				return p, true
			}
		}
	}
	return metricdata.HistogramDataPoint[float64]{}, false
}

type want struct {
	name   string
	labels []string
	value  int64
}

func requests(policy, outcome string, n int64) want {
	return want{"halt.requests", []string{"policy=" + policy, "outcome=" + outcome}, n}
}

func expect(t *testing.T, r *sdkmetric.ManualReader, ws ...want) collected {
	t.Helper()
	c := collect(t, r)
	for _, w := range ws {
		if got := c.value(w.name, w.labels...); got != w.value {
			t.Errorf("%s%v = %d, want %d", w.name, w.labels, got, w.value)
		}
	}
	return c
}

const mapStore = "*halttest.MapStore"

// The example app's scenario: one client sends 125 requests to / under
// PublicAPI (100 per minute, burst 120), and two to /health.
func TestPublicAPIBurst(t *testing.T) {
	sink, reader := setup(t)
	l := newLimiter(t, halttest.NewMapStore(),
		halt.Policy{Name: "public_api", Limit: 100, Window: time.Minute, Burst: 120},
		halt.WithTelemetry(sink))
	send(t, l, "/", "203.0.113.7", 125)
	send(t, l, "/health", "203.0.113.7", 2)
	c := expect(t, reader,
		requests("public_api", "allowed", 120),
		requests("public_api", "blocked", 5),
		want{"halt.requests", []string{"outcome=exempt"}, 2},
		want{"halt.requests", []string{"outcome=error"}, -1},
		want{"halt.store.up", []string{"store=" + mapStore}, 1},
		want{"halt.store.errors", []string{"store=" + mapStore}, -1},
	)
	if c.scope != haltotel.ScopeName || c.version != haltotel.Version {
		t.Errorf("scope = %s %s, want %s %s", c.scope, c.version, haltotel.ScopeName, haltotel.Version)
	}
	h, ok := c.histogram("halt.store.duration", "store="+mapStore)
	if !ok || h.Count != 125 {
		t.Errorf("halt.store.duration = %+v, want 125 records", h)
	}
	if got, want := len(h.Bounds), len(haltotel.DefaultBuckets); got != want {
		t.Errorf("%d bucket bounds, want %d", got, want)
	}
	if u := c.metrics["halt.store.duration"].Unit; u != "s" {
		t.Errorf("halt.store.duration unit = %q, want s", u)
	}
	for _, m := range c.metrics {
		if strings.Contains(stringify(m), "203.0.113.7") {
			t.Errorf("%s carries the client key", m.Name)
		}
	}
}

func stringify(m metricdata.Metrics) string {
	var b strings.Builder
	each := func(s attribute.Set) {
		for _, kv := range s.ToSlice() {
			b.WriteString(kv.Value.String())
		}
	}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			each(p.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			each(p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			each(p.Attributes)
		}
	}
	return b.String()
}

func TestOutcomes(t *testing.T) {
	sink, reader := setup(t)
	store := halttest.NewMapStore()
	api := newLimiter(t, store, halt.Policy{Name: "api", Limit: 5, Window: time.Minute},
		halt.WithTelemetry(sink),
		halt.WithPolicies(halt.Policy{Name: "trial", Limit: 2, Window: time.Minute, Shadow: true}))
	send(t, api, "/", "203.0.113.7", 7)
	send(t, api, "/", "10.0.0.1", 2) // private: exempt
	user := newLimiter(t, store, halt.Policy{Name: "per_user", Limit: 5, Window: time.Minute, KeyStrategy: halt.KeyUser},
		halt.WithTelemetry(sink), halt.WithMissingKey(halt.MissingKeySkip))
	send(t, user, "/", "203.0.113.7", 3)
	expect(t, reader,
		requests("api", "allowed", 5),
		requests("api", "blocked", 2),
		requests("api", "exempt", 2),
		requests("trial", "shadow_blocked", 3),
		requests("per_user", "skipped", 3),
		want{"halt.notices", []string{"kind=private_exempt"}, 1},
	)
}

func TestStoreErrors(t *testing.T) {
	for _, mode := range []halt.FailureMode{halt.FailOpen, halt.FailClosed} {
		sink, reader := setup(t)
		l := newLimiter(t, halttest.FailingStore{}, halt.Policy{Name: "api", Limit: 5, Window: time.Minute},
			halt.WithTelemetry(sink), halt.WithFailureMode(mode))
		send(t, l, "/", "203.0.113.7", 3)
		expect(t, reader,
			requests("api", "error", 3),
			requests("api", "allowed", -1),
			requests("api", "blocked", -1),
			want{"halt.store.errors", []string{"store=halttest.FailingStore"}, 3},
		)
	}
}

func TestFallback(t *testing.T) {
	sink, reader := setup(t)
	l := newLimiter(t, halttest.FailingStore{}, halt.Policy{Name: "api", Limit: 5, Window: time.Minute},
		halt.WithTelemetry(sink), halt.WithFallback(halttest.NewMapStore()))
	send(t, l, "/", "203.0.113.7", 7)
	expect(t, reader,
		requests("api", "allowed", 5),
		requests("api", "blocked", 2),
		requests("api", "error", -1),
		want{"halt.store.errors", []string{"store=halttest.FailingStore"}, 7},
	)
}

func TestNotices(t *testing.T) {
	sink, reader := setup(t)
	ctx := context.Background()
	redis := slog.String("store", "redis")
	sink.OnNotice(ctx, halt.Notice{Kind: halt.NoticeStoreDown, Attrs: []slog.Attr{redis}})
	sink.OnNotice(ctx, halt.Notice{Kind: halt.NoticeStoreDown})
	expect(t, reader,
		want{"halt.store.up", []string{"store=redis"}, 0},
		want{"halt.store.up", []string{"store=default"}, 0},
		want{"halt.notices", []string{"kind=store_down"}, 2},
	)
	sink.OnNotice(ctx, halt.Notice{Kind: halt.NoticeStoreUp, Attrs: []slog.Attr{redis}})
	sink.OnStoreDuration(ctx, "redis", time.Millisecond)
	expect(t, reader,
		want{"halt.store.up", []string{"store=redis"}, 1},
		want{"halt.store.up", []string{"store=default"}, 0},
		want{"halt.notices", []string{"kind=store_up"}, 1},
	)
}

func TestMaxPolicies(t *testing.T) {
	sink, reader := setup(t, haltotel.WithMaxPolicies(2), haltotel.WithMaxPolicies(0))
	ctx := context.Background()
	for _, p := range []string{"a", "b", "c", "d", "a", "d"} {
		sink.OnAllowed(ctx, halt.Event{Policy: p})
	}
	expect(t, reader,
		requests("a", "allowed", 2),
		requests("b", "allowed", 1),
		requests("c", "allowed", -1),
		requests(haltotel.OtherPolicy, "allowed", 3),
	)
}

// Beyond a handful of policies the names are indexed; every series stays
// its own.
func TestManyPolicies(t *testing.T) {
	sink, reader := setup(t)
	ctx := context.Background()
	for round := range 3 {
		for i := range 20 {
			if i <= round*10 {
				sink.OnBlocked(ctx, halt.Event{Policy: fmt.Sprintf("p%02d", i)})
			}
		}
	}
	var ws []want
	for i := range 20 {
		n := int64(1) // p00: three rounds, p01 to p10: two, the rest one
		switch {
		case i == 0:
			n = 3
		case i <= 10:
			n = 2
		}
		ws = append(ws, requests(fmt.Sprintf("p%02d", i), "blocked", n))
	}
	expect(t, reader, ws...)
}

func TestBuckets(t *testing.T) {
	sink, reader := setup(t, nil, haltotel.WithBuckets([]float64{0.01, 0.001, 0.01}), haltotel.WithBuckets(nil))
	sink.OnStoreDuration(context.Background(), "memory", 2*time.Millisecond)
	h, ok := collect(t, reader).histogram("halt.store.duration", "store=memory")
	if !ok || len(h.Bounds) != 2 || h.Bounds[0] != 0.001 || h.Bounds[1] != 0.01 || h.BucketCounts[1] != 1 {
		t.Errorf("histogram = %+v, want bounds [0.001 0.01] and the record in the second bucket", h)
	}
}

// With the global provider (a no-op until one is set), New works and
// reporting does nothing.
func TestGlobalProvider(t *testing.T) {
	sink, err := haltotel.New()
	if err != nil {
		t.Fatal(err)
	}
	sink.OnAllowed(context.Background(), halt.Event{Policy: "api"})
}

// Reporting a request allocates nothing once its policy and store are
// known.
func TestNoAllocations(t *testing.T) {
	sink, _ := setup(t)
	ctx := context.Background()
	e := halt.Event{Policy: "api", Store: "memory", Decision: halt.Decision{Allowed: true, Policy: "api"}}
	ex := halt.Event{Policy: "api", Decision: halt.Decision{Allowed: true, Reason: halt.ReasonExempt}}
	report := func() {
		sink.OnStoreDuration(ctx, "memory", time.Microsecond)
		sink.OnCheck(ctx, e)
		sink.OnAllowed(ctx, e)
		sink.OnBlocked(ctx, e)
		sink.OnCheck(ctx, ex)
	}
	report()
	if n := testing.AllocsPerRun(1000, report); n != 0 {
		t.Errorf("reporting allocates %v times, want 0", n)
	}
}

func TestConcurrent(t *testing.T) {
	sink, reader := setup(t)
	l := newLimiter(t, halttest.NewMapStore(), halt.Policy{Name: "api", Limit: 1000, Window: time.Hour},
		halt.WithTelemetry(sink))
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				path := "/"
				if i%10 == 0 {
					path = "/health"
				}
				_, _ = l.Check(context.Background(), &halttest.FakeRequest{URLPath: path, Peer: "203.0.113.7:1"})
				if g == 0 && i%50 == 0 {
					var rm metricdata.ResourceMetrics
					_ = reader.Collect(context.Background(), &rm)
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	expect(t, reader,
		requests("api", "allowed", 1000),
		requests("api", "blocked", 8*180-1000),
		requests("api", "exempt", 8*20),
	)
}

// TestSaaSNotices: a limiter with a quota and penalties reports the quota's
// exhaustion, the penalty's start, a ban and the penalty's end, counted in
// halt.notices{kind}, whether the store applies the penalty inside the
// decision (MapStore) or in calls of its own (InOrder).
func TestSaaSNotices(t *testing.T) {
	for name, store := range map[string]halt.Store{"PenaltyTaker": halttest.NewMapStore(), "MultiCall": halttest.InOrder(halttest.NewMapStore())} {
		t.Run(name, func(t *testing.T) {
			sink, reader := setup(t)
			l := newLimiter(t, store, halt.Policy{Name: "plan", Limit: 3, Window: time.Hour, Algorithm: halt.FixedWindow},
				halt.WithQuotas(halt.Quota{Name: "day", Limit: 3, Period: halt.Daily}),
				halt.WithPenalties(halt.PenaltyConfig{Threshold: 2, Duration: time.Hour, Multiplier: 0.5}, 1),
				halt.WithTelemetry(sink), halt.WithExemptPrivateIPs(false))
			send(t, l, "/", "203.0.113.9", 3) // the third takes the quota's last unit
			expect(t, reader,
				want{"halt.notices", []string{"kind=quota_exhausted"}, 1},
				want{"halt.notices", []string{"kind=penalty_start"}, -1},
			)
			send(t, l, "/", "203.0.113.9", 2) // two refusals: the second starts the penalty
			r := &halttest.FakeRequest{URLPath: "/", Peer: "203.0.113.9:4321"}
			if _, err := l.Ban(t.Context(), r, time.Hour); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Unban(t.Context(), r); err != nil {
				t.Fatal(err)
			}
			expect(t, reader,
				want{"halt.notices", []string{"kind=quota_exhausted"}, 1},
				want{"halt.notices", []string{"kind=penalty_start"}, 1},
				want{"halt.notices", []string{"kind=ban"}, 1},
				want{"halt.notices", []string{"kind=penalty_end"}, 1},
			)
		})
	}
}
