package haltprom_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	haltprom "github.com/halt-go/halt/telemetry/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// setup returns a Telemetry registered on a fresh registry.
func setup(t *testing.T, opts ...haltprom.Option) (*haltprom.Telemetry, *prometheus.Registry) {
	t.Helper()
	sink := haltprom.New(opts...)
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(sink); err != nil {
		t.Fatal(err)
	}
	return sink, reg
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

// gather returns the metrics of reg by name.
func gather(t *testing.T, reg prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// find returns the metric of family name whose labels include labels
// ("k=v" pairs), or nil.
func find(mfs map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	mf := mfs[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is the counter or gauge value of a series; -1 when it is absent.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	m := find(mfs, name, labels...)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	return -1
}

type want struct {
	name   string
	labels []string
	value  float64
}

func expect(t *testing.T, reg prometheus.Gatherer, ws ...want) {
	t.Helper()
	mfs := gather(t, reg)
	for _, w := range ws {
		if got := value(mfs, w.name, w.labels...); got != w.value {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
}

func requests(policy, outcome string, n float64) want {
	return want{"halt_requests_total", []string{"policy=" + policy, "outcome=" + outcome}, n}
}

const mapStore = "*halttest.MapStore"

func TestRequests(t *testing.T) {
	sink, reg := setup(t)
	l := newLimiter(t, halttest.NewMapStore(), halt.Policy{Name: "api", Limit: 5, Window: time.Minute},
		halt.WithTelemetry(sink))
	send(t, l, "/", "203.0.113.7", 7)
	send(t, l, "/health", "203.0.113.7", 2)
	send(t, l, "/", "10.0.0.1", 3) // private: exempt

	expect(t, reg,
		requests("api", "allowed", 5),
		requests("api", "blocked", 2),
		requests("api", "exempt", 5),
		requests("api", "skipped", 0),
		requests("api", "shadow_blocked", 0),
		requests("api", "error", 0),
		want{"halt_store_errors_total", []string{"store=" + mapStore}, 0},
		want{"halt_store_up", []string{"store=" + mapStore}, 1},
		want{"halt_notices_total", []string{"kind=private_exempt"}, 1},
	)
	mfs := gather(t, reg)
	h := find(mfs, "halt_store_duration_seconds", "store="+mapStore)
	if h == nil || h.GetHistogram().GetSampleCount() != 7 {
		t.Errorf("store duration histogram = %v, want 7 samples", h)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if strings.Contains(lp.GetValue(), "203.0.113.7") {
					t.Errorf("%s carries the client key in label %s", mf.GetName(), lp.GetName())
				}
			}
		}
	}
}

// The example app's scenario: one client sends 125 requests to / under
// PublicAPI (100 per minute, burst 120), and two to /health.
func TestPublicAPIBurst(t *testing.T) {
	sink, reg := setup(t)
	l := newLimiter(t, halttest.NewMapStore(),
		halt.Policy{Name: "public_api", Limit: 100, Window: time.Minute, Burst: 120},
		halt.WithTelemetry(sink))
	send(t, l, "/", "203.0.113.7", 125)
	send(t, l, "/health", "203.0.113.7", 2)
	expect(t, reg,
		requests("public_api", "allowed", 120),
		requests("public_api", "blocked", 5),
		requests("public_api", "exempt", 2),
		requests("public_api", "error", 0),
	)
}

func TestSkipped(t *testing.T) {
	sink, reg := setup(t)
	l := newLimiter(t, halttest.NewMapStore(),
		halt.Policy{Name: "per_user", Limit: 5, Window: time.Minute, KeyStrategy: halt.KeyUser},
		halt.WithTelemetry(sink), halt.WithMissingKey(halt.MissingKeySkip))
	send(t, l, "/", "203.0.113.7", 3)
	expect(t, reg, requests("per_user", "skipped", 3), requests("per_user", "allowed", 0))
}

func TestMissingKeyDenyIsBlocked(t *testing.T) {
	sink, reg := setup(t)
	l := newLimiter(t, halttest.NewMapStore(),
		halt.Policy{Name: "per_user", Limit: 5, Window: time.Minute, KeyStrategy: halt.KeyUser},
		halt.WithTelemetry(sink), halt.WithMissingKey(halt.MissingKeyDeny))
	send(t, l, "/", "203.0.113.7", 2)
	expect(t, reg, requests("per_user", "blocked", 2))
}

// A request the failure mode decided counts once, as error, whether it
// was let through or rejected.
func TestStoreErrors(t *testing.T) {
	for _, mode := range []halt.FailureMode{halt.FailOpen, halt.FailClosed} {
		sink, reg := setup(t)
		l := newLimiter(t, halttest.FailingStore{}, halt.Policy{Name: "api", Limit: 5, Window: time.Minute},
			halt.WithTelemetry(sink), halt.WithFailureMode(mode))
		send(t, l, "/", "203.0.113.7", 3)
		expect(t, reg,
			requests("api", "error", 3),
			requests("api", "allowed", 0),
			requests("api", "blocked", 0),
			want{"halt_store_errors_total", []string{"store=halttest.FailingStore"}, 3},
			want{"halt_store_up", []string{"store=halttest.FailingStore"}, 1},
		)
	}
}

// A request the fallback store decided counts as the fallback decided;
// the failure is a store error.
func TestFallback(t *testing.T) {
	sink, reg := setup(t)
	l := newLimiter(t, halttest.FailingStore{}, halt.Policy{Name: "api", Limit: 5, Window: time.Minute},
		halt.WithTelemetry(sink), halt.WithFallback(halttest.NewMapStore()))
	send(t, l, "/", "203.0.113.7", 7)
	expect(t, reg,
		requests("api", "allowed", 5),
		requests("api", "blocked", 2),
		requests("api", "error", 0),
		want{"halt_store_errors_total", []string{"store=halttest.FailingStore"}, 7},
	)
}

func TestShadow(t *testing.T) {
	sink, reg := setup(t)
	l := newLimiter(t, halttest.NewMapStore(), halt.Policy{Name: "api", Limit: 100, Window: time.Minute},
		halt.WithTelemetry(sink),
		halt.WithPolicies(halt.Policy{Name: "trial", Limit: 2, Window: time.Minute, Shadow: true}))
	send(t, l, "/", "203.0.113.7", 5)
	expect(t, reg,
		requests("api", "allowed", 5),
		requests("api", "blocked", 0),
		requests("trial", "shadow_blocked", 3),
		requests("trial", "blocked", 0),
	)
}

// Several limiters share one sink, each under its own policy label.
func TestSharedSink(t *testing.T) {
	sink, reg := setup(t)
	store := halttest.NewMapStore()
	a := newLimiter(t, store, halt.Policy{Name: "a", Limit: 1, Window: time.Minute}, halt.WithTelemetry(sink))
	b := newLimiter(t, store, halt.Policy{Name: "b", Limit: 2, Window: time.Minute},
		halt.WithTelemetry(halt.SlogTelemetry{Logger: slog.New(slog.DiscardHandler)}, sink))
	send(t, a, "/", "203.0.113.7", 3)
	send(t, b, "/", "203.0.113.7", 3)
	expect(t, reg,
		requests("a", "allowed", 1), requests("a", "blocked", 2),
		requests("b", "allowed", 2), requests("b", "blocked", 1),
	)
	h := find(gather(t, reg), "halt_store_duration_seconds", "store="+mapStore)
	if h.GetHistogram().GetSampleCount() != 6 {
		t.Errorf("store duration samples = %d, want 6", h.GetHistogram().GetSampleCount())
	}
}

func TestNotices(t *testing.T) {
	sink, reg := setup(t)
	ctx := context.Background()
	redis := slog.String("store", "redis")
	sink.OnNotice(ctx, halt.Notice{Kind: halt.NoticeStoreDown, Attrs: []slog.Attr{slog.String("error", "x"), redis}})
	expect(t, reg,
		want{"halt_store_up", []string{"store=redis"}, 0},
		want{"halt_notices_total", []string{"kind=store_down"}, 1},
	)
	sink.OnNotice(ctx, halt.Notice{Kind: halt.NoticeStoreUp, Attrs: []slog.Attr{redis}})
	sink.OnNotice(ctx, halt.Notice{Kind: halt.NoticeStoreDown})
	sink.OnNotice(ctx, halt.Notice{Kind: "quota_exhausted"})
	expect(t, reg,
		want{"halt_store_up", []string{"store=redis"}, 1},
		want{"halt_store_up", []string{"store=default"}, 0},
		want{"halt_notices_total", []string{"kind=store_down"}, 2},
		want{"halt_notices_total", []string{"kind=store_up"}, 1},
		want{"halt_notices_total", []string{"kind=quota_exhausted"}, 1},
	)
	// Timing a store seen down does not mark it up: only a notice does.
	sink.OnStoreDuration(ctx, "redis", time.Millisecond)
	sink.OnNotice(ctx, halt.Notice{Kind: halt.NoticeStoreDown, Attrs: []slog.Attr{redis}})
	sink.OnStoreDuration(ctx, "redis", time.Millisecond)
	expect(t, reg, want{"halt_store_up", []string{"store=redis"}, 0})
}

func TestMaxPolicies(t *testing.T) {
	sink, reg := setup(t, haltprom.WithMaxPolicies(2))
	ctx := context.Background()
	for _, p := range []string{"a", "b", "c", "d", "a", "d"} {
		sink.OnAllowed(ctx, halt.Event{Policy: p})
	}
	expect(t, reg,
		requests("a", "allowed", 2),
		requests("b", "allowed", 1),
		requests("c", "allowed", -1),
		requests("d", "allowed", -1),
		requests(haltprom.OtherPolicy, "allowed", 3),
	)
}

// Beyond a handful of policies the names are indexed; every series stays
// its own.
func TestManyPolicies(t *testing.T) {
	sink, reg := setup(t)
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
		n := 1.0 // p00: three rounds, p01 to p10: two, the rest one
		switch {
		case i == 0:
			n = 3
		case i <= 10:
			n = 2
		}
		ws = append(ws, requests(fmt.Sprintf("p%02d", i), "blocked", n))
	}
	expect(t, reg, ws...)
}

func TestOptions(t *testing.T) {
	sink, reg := setup(t, nil,
		haltprom.WithNamespace("shop"),
		haltprom.WithConstLabels(prometheus.Labels{"service": "checkout"}),
		haltprom.WithConstLabels(nil),
		haltprom.WithBuckets([]float64{0.001, 0.01}),
		haltprom.WithBuckets(nil),
		haltprom.WithMaxPolicies(0),
	)
	ctx := context.Background()
	sink.OnAllowed(ctx, halt.Event{Policy: "api"})
	sink.OnStoreDuration(ctx, "memory", 5*time.Millisecond)
	mfs := gather(t, reg)
	if v := value(mfs, "shop_halt_requests_total", "policy=api", "outcome=allowed", "service=checkout"); v != 1 {
		t.Errorf("shop_halt_requests_total = %v, want 1", v)
	}
	h := find(mfs, "shop_halt_store_duration_seconds", "store=memory", "service=checkout")
	if h == nil {
		t.Fatal("no shop_halt_store_duration_seconds{store=memory}")
	}
	var bounds []float64
	for _, b := range h.GetHistogram().GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	if len(bounds) != 2 || bounds[0] != 0.001 || bounds[1] != 0.01 {
		t.Errorf("buckets = %v, want [0.001 0.01]", bounds)
	}
	for name := range mfs {
		if !strings.HasPrefix(name, "shop_halt_") {
			t.Errorf("metric %s lacks the namespace", name)
		}
	}
}

func TestStoreDuration(t *testing.T) {
	sink, reg := setup(t, haltprom.WithBuckets([]float64{0.01, 0.001, math.Inf(1), 0.01, math.NaN(), 0.0001}))
	ctx := context.Background()
	for _, d := range []time.Duration{0, 50 * time.Microsecond, 100 * time.Microsecond, 101 * time.Microsecond,
		time.Millisecond, 9 * time.Millisecond, 20 * time.Millisecond, -time.Second} {
		sink.OnStoreDuration(ctx, "redis", d)
	}
	h := find(gather(t, reg), "halt_store_duration_seconds", "store=redis").GetHistogram()
	if h.GetSampleCount() != 8 {
		t.Errorf("count = %d, want 8", h.GetSampleCount())
	}
	if want := 0.030251; math.Abs(h.GetSampleSum()-want) > 1e-12 {
		t.Errorf("sum = %v, want %v", h.GetSampleSum(), want)
	}
	var got []string
	for _, b := range h.GetBucket() {
		got = append(got, fmt.Sprintf("%g:%d", b.GetUpperBound(), b.GetCumulativeCount()))
	}
	if want := "[0.0001:4 0.001:6 0.01:7]"; fmt.Sprint(got) != want {
		t.Errorf("buckets = %v, want %s", got, want)
	}
}

// Reporting a request allocates nothing once its policy and store are
// known, and the limiter with the sink allocates no more than without.
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

	p := halt.Policy{Name: "api", Limit: 1 << 40, Window: time.Second}
	req := &halttest.FakeRequest{Peer: "203.0.113.7:4321"}
	allocs := func(opts ...halt.Option) float64 {
		l, err := halt.New(halttest.NewMapStore(), p, opts...)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = l.Check(ctx, req)
		return testing.AllocsPerRun(1000, func() { _, _ = l.Check(ctx, req) })
	}
	quiet, with := allocs(), allocs(halt.WithTelemetry(sink))
	if with > quiet {
		t.Errorf("Check allocates %v times with the sink, %v without", with, quiet)
	}
}

func TestConcurrent(t *testing.T) {
	sink, reg := setup(t)
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
					_, _ = reg.Gather()
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	expect(t, reg,
		requests("api", "allowed", 1000),
		requests("api", "blocked", 8*180-1000),
		requests("api", "exempt", 8*20),
	)
}

// TestSaaSNotices: a limiter with a quota and penalties reports the quota's
// exhaustion, the penalty's start, a ban and the penalty's end, counted in
// halt_notices_total{kind}, whether the store applies the penalty inside
// the decision (MapStore) or in calls of its own (InOrder).
func TestSaaSNotices(t *testing.T) {
	for name, store := range map[string]halt.Store{"PenaltyTaker": halttest.NewMapStore(), "MultiCall": halttest.InOrder(halttest.NewMapStore())} {
		t.Run(name, func(t *testing.T) {
			sink, reg := setup(t)
			l := newLimiter(t, store, halt.Policy{Name: "plan", Limit: 3, Window: time.Hour, Algorithm: halt.FixedWindow},
				halt.WithQuotas(halt.Quota{Name: "day", Limit: 3, Period: halt.Daily}),
				halt.WithPenalties(halt.PenaltyConfig{Threshold: 2, Duration: time.Hour, Multiplier: 0.5}, 1),
				halt.WithTelemetry(sink), halt.WithExemptPrivateIPs(false))
			send(t, l, "/", "203.0.113.9", 3) // the third takes the quota's last unit
			expect(t, reg,
				want{"halt_notices_total", []string{"kind=quota_exhausted"}, 1},
				want{"halt_notices_total", []string{"kind=penalty_start"}, -1},
			)
			send(t, l, "/", "203.0.113.9", 2) // two refusals: the second starts the penalty
			r := &halttest.FakeRequest{URLPath: "/", Peer: "203.0.113.9:4321"}
			if _, err := l.Ban(t.Context(), r, time.Hour); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Unban(t.Context(), r); err != nil {
				t.Fatal(err)
			}
			expect(t, reg,
				want{"halt_notices_total", []string{"kind=quota_exhausted"}, 1},
				want{"halt_notices_total", []string{"kind=penalty_start"}, 1},
				want{"halt_notices_total", []string{"kind=ban"}, 1},
				want{"halt_notices_total", []string{"kind=penalty_end"}, 1},
			)
		})
	}
}
