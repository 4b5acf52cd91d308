package haltprom_test

import (
	"context"
	"fmt"
	"os"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	haltprom "github.com/halt-go/halt/telemetry/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Register one Telemetry on a registry and give it to the limiters; serve
// the registry with promhttp.HandlerFor.
func Example() {
	reg := prometheus.NewRegistry()
	sink := haltprom.New()
	reg.MustRegister(sink)

	l, err := halt.New(halttest.NewMapStore(), halt.Policy{Name: "api", Limit: 2, Window: time.Minute},
		halt.WithTelemetry(sink))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, path := range []string{"/", "/", "/", "/health"} {
		_, _ = l.Check(context.Background(), &halttest.FakeRequest{URLPath: path, Peer: "203.0.113.7:4321"})
	}

	mfs, err := reg.Gather()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, mf := range mfs {
		if mf.GetName() == "halt_requests_total" {
			_, _ = expfmt.MetricFamilyToText(os.Stdout, mf)
		}
	}
	// Output:
	// # HELP halt_requests_total Requests the rate limiters saw, by policy and outcome (allowed, blocked, exempt, skipped, shadow_blocked, error).
	// # TYPE halt_requests_total counter
	// halt_requests_total{outcome="allowed",policy="api"} 2
	// halt_requests_total{outcome="blocked",policy="api"} 1
	// halt_requests_total{outcome="error",policy="api"} 0
	// halt_requests_total{outcome="exempt",policy="api"} 1
	// halt_requests_total{outcome="shadow_blocked",policy="api"} 0
	// halt_requests_total{outcome="skipped",policy="api"} 0
}

// A namespace and constant labels tell several services' limiters apart.
func ExampleNew() {
	sink := haltprom.New(
		haltprom.WithNamespace("shop"),
		haltprom.WithConstLabels(prometheus.Labels{"service": "checkout"}),
		haltprom.WithBuckets([]float64{0.0005, 0.001, 0.005, 0.025}),
	)
	prometheus.MustRegister(sink)
	defer prometheus.Unregister(sink)
	_, _ = halt.New(halttest.NewMapStore(), halt.Policy{Name: "api", Limit: 100, Window: time.Minute},
		halt.WithTelemetry(halt.SlogTelemetry{}, sink))
}
