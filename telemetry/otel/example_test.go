package haltotel_test

import (
	"context"
	"fmt"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	haltotel "github.com/halt-go/halt/telemetry/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Record with a meter provider of your own (here one read by hand; in a
// service, a periodic reader with an OTLP or Prometheus exporter).
func Example() {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = provider.Shutdown(context.Background()) }()

	sink, err := haltotel.New(haltotel.WithMeterProvider(provider))
	if err != nil {
		fmt.Println(err)
		return
	}
	l, err := halt.New(halttest.NewMapStore(), halt.Policy{Name: "api", Limit: 2, Window: time.Minute},
		halt.WithTelemetry(sink))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, path := range []string{"/", "/", "/", "/health"} {
		_, _ = l.Check(context.Background(), &halttest.FakeRequest{URLPath: path, Peer: "203.0.113.7:4321"})
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name != "halt.requests" {
			continue
		}
		counts := map[string]int64{}
		for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
			outcome, _ := p.Attributes.Value(haltotel.OutcomeKey)
			counts[outcome.AsString()] += p.Value
		}
		fmt.Println(counts)
	}
	// Output:
	// map[allowed:2 blocked:1 exempt:1]
}
