package haltotel_test

import (
	"context"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	haltotel "github.com/halt-go/halt/telemetry/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// The Check benchmarks compare a check on the allowed path under the
// limiter's quiet default telemetry with the same check recording to a
// Telemetry on an SDK meter provider.
//
//	go test -run '^$' -bench . -benchmem -cpu 1 -count 10

func benchLimiter(b *testing.B, opts ...halt.Option) *halt.Limiter {
	b.Helper()
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

func otelSink(b *testing.B) *haltotel.Telemetry {
	b.Helper()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	sink, err := haltotel.New(haltotel.WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	return sink
}

func BenchmarkCheckQuiet(b *testing.B) { benchCheck(b, benchLimiter(b)) }

func BenchmarkCheckWithOTel(b *testing.B) {
	benchCheck(b, benchLimiter(b, halt.WithTelemetry(otelSink(b))))
}

// BenchmarkReport is what the Telemetry does for one allowed request.
func BenchmarkReport(b *testing.B) {
	sink := otelSink(b)
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
