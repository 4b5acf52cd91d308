// Package haltotel records what a [halt.Limiter] sees as OpenTelemetry
// metrics. Create a [Telemetry] with [New] (the global MeterProvider
// unless [WithMeterProvider] names one) and give it to the limiters with
// [halt.WithTelemetry]; one Telemetry serves any number of limiters.
//
// # Instruments
//
// The meter's instrumentation scope is [ScopeName] at [Version]. No
// attribute ever holds a client key: the values are policy names, store
// names and notice kinds, so the number of series stays bounded by the
// configuration, not by the traffic.
//
//	halt.requests        Int64Counter           {request}  policy, outcome
//	halt.store.duration  Float64Histogram       s          store
//	halt.store.errors    Int64Counter           {error}    store
//	halt.store.up        Int64ObservableGauge   1          store
//	halt.notices         Int64Counter           {notice}   kind
//
// The outcome of halt.requests is one of allowed, blocked, exempt,
// skipped, shadow_blocked and error, counted exactly as the Prometheus
// exporter (github.com/halt-go/halt/telemetry/prometheus) counts them:
// each request once, under the policy that decided it; a shadow policy's
// would-be rejection also as shadow_blocked under its own name; error
// only when the failure mode decided (a request the fallback store
// decided counts as allowed or blocked, and the failure in
// halt.store.errors). Requests that an adapter's skip option lets by never
// reach the limiter, so they are not counted at all.
//
// halt.store.up is 1 for each store the limiters have timed or seen fail,
// and follows [halt.NoticeStoreDown] and [halt.NoticeStoreUp]; a notice
// names its store with a string attribute "store", else the series
// store="default" is switched. Through an OpenTelemetry-to-Prometheus
// exporter the instruments become halt_requests_total,
// halt_store_duration_seconds and so on, the same names and labels as the
// Prometheus exporter's.
//
// # Example
//
//	sink, err := haltotel.New(haltotel.WithMeterProvider(provider))
//	if err != nil {
//		return err
//	}
//	l, err := halt.New(store, presets.PublicAPI(), halt.WithTelemetry(sink))
package haltotel
