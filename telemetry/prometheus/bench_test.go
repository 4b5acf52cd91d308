package haltprom_test

import (
	"context"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	haltprom "github.com/halt-go/halt/telemetry/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// The Check benchmarks compare a check on the allowed path under the
// limiter's quiet default telemetry with the same check reporting to a
// registered Telemetry; the difference is the sink's whole cost. Two
// no-op sinks split it: NopSink is what the limiter spends on events
// (OnCheck and OnAllowed), NopTimer adds its clock read for StoreTimer;
// Report is the Telemetry's own work.
//
//	go test -run '^$' -bench . -benchmem -cpu 1 -count 10

func benchLimiter(b *testing.B, opts ...halt.Option) *halt.Limiter {
	b.Helper()
	// A limit no benchmark exhausts, on the system clock.
	l, err := halt.New(halttest.NewMapStore(), halt.Policy{Name: "api", Limit: 1 << 40, Window: time.Second}, opts...)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func benchCheck(b *testing.B, l *halt.Limiter) {
	b.Helper()
	ctx := context.Background()
	req := &halttest.FakeRequest{Peer: "203.0.113.7:4321"}
	if d, _ := l.Check(ctx, req); !d.Allowed {
		b.Fatal("not allowed")
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = l.CheckCost(ctx, req, 0)
	}
}

func benchParallel(b *testing.B, l *halt.Limiter) {
	b.Helper()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		req := &halttest.FakeRequest{Peer: "203.0.113.7:4321"}
		for pb.Next() {
			_, _ = l.CheckCost(ctx, req, 0)
		}
	})
}

func promSink(b *testing.B) *haltprom.Telemetry {
	b.Helper()
	sink := haltprom.New()
	prometheus.NewRegistry().MustRegister(sink)
	return sink
}

// nopSink is not quiet to the limiter, so it gets every event.
type nopSink struct{ halt.NopTelemetry }

// nopTimer also times the store.
type nopTimer struct{ halt.NopTelemetry }

func (nopTimer) OnStoreDuration(context.Context, string, time.Duration) {}

func BenchmarkCheckQuiet(b *testing.B) { benchCheck(b, benchLimiter(b)) }

func BenchmarkCheckWithPrometheus(b *testing.B) {
	benchCheck(b, benchLimiter(b, halt.WithTelemetry(promSink(b))))
}

func BenchmarkCheckWithNopSink(b *testing.B) {
	benchCheck(b, benchLimiter(b, halt.WithTelemetry(&nopSink{})))
}

func BenchmarkCheckWithNopTimer(b *testing.B) {
	benchCheck(b, benchLimiter(b, halt.WithTelemetry(&nopTimer{})))
}

func BenchmarkCheckQuietParallel(b *testing.B) { benchParallel(b, benchLimiter(b)) }

func BenchmarkCheckWithPrometheusParallel(b *testing.B) {
	benchParallel(b, benchLimiter(b, halt.WithTelemetry(promSink(b))))
}

// BenchmarkReport is what the Telemetry does for one allowed request.
func BenchmarkReport(b *testing.B) {
	sink := promSink(b)
	ctx := context.Background()
	e := halt.Event{Policy: "api", Store: "memory", Decision: halt.Decision{Allowed: true, Policy: "api"}}
	sink.OnStoreDuration(ctx, "memory", 0)
	sink.OnAllowed(ctx, e)
	b.ReportAllocs()
	for b.Loop() {
		sink.OnStoreDuration(ctx, "memory", 700*time.Nanosecond)
		sink.OnRequest(ctx, e.Policy, halt.OutcomeAllowed)
	}
}
