// Package haltprom exports what a [halt.Limiter] sees as Prometheus
// metrics. Create a [Telemetry] with [New], register it on a registry of
// your choice (it is a [prometheus.Collector]), and give it to the
// limiters with [halt.WithTelemetry]; one Telemetry serves any number of
// limiters.
//
// # Metrics
//
// Every name below starts with "halt_" (after the namespace of
// [WithNamespace], if any). No label ever holds a client key: the label
// values are policy names, store names and notice kinds, so the number of
// series stays bounded by the configuration, not by the traffic.
//
//	halt_requests_total{policy, outcome}   counter
//	halt_store_duration_seconds{store}     histogram
//	halt_store_errors_total{store}         counter
//	halt_store_up{store}                   gauge, 1 or 0
//	halt_notices_total{kind}               counter
//
// The outcome of halt_requests_total is one of:
//
//	allowed         admitted by the store (or by the fallback store)
//	blocked         rejected: limited, cooling down, costlier than the
//	                policy allows, or without a key under MissingKeyDeny
//	exempt          a health path, a private client or a policy exemption
//	skipped         not limited: no key under the policy's strategy, with
//	                MissingKeySkip
//	shadow_blocked  a shadow policy would have rejected it (it went on)
//	error           the store failed and the failure mode decided
//
// Each request is counted once, under the policy that decided it; a
// request a shadow policy would have rejected is also counted as
// shadow_blocked under the shadow policy's name. A request decided by the
// fallback store of [halt.WithFallback] counts as allowed or blocked, as
// the fallback decided; the store failure behind it is counted in
// halt_store_errors_total. A shadow policy's own store failure is counted
// only there too. Requests that an adapter's skip option lets by never
// reach the limiter, so they are not counted at all.
//
// halt_store_up is 1 for each store the limiters have timed or seen fail,
// and follows the store's [halt.NoticeStoreDown] and [halt.NoticeStoreUp]
// notices. A notice names its store with a string attribute "store"
// (slog.String("store", "redis")); a notice without one switches the
// series store="default".
//
// # Example
//
//	reg := prometheus.NewRegistry()
//	sink := haltprom.New()
//	reg.MustRegister(sink)
//	l, err := halt.New(store, presets.PublicAPI(), halt.WithTelemetry(sink))
//	...
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
package haltprom
