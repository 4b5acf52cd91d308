// Package halt is the framework-neutral core of Halt for Go: policies, the
// three rate-limiting algorithms, client-IP resolution, key strategies,
// exemptions, header encoders and the store contract.
//
// It imports nothing outside the standard library. Framework adapters
// (halthttp, haltchi, haltgin, haltecho, haltfiber) turn a framework's request
// into a [Request] and write what a [Decision] renders; stores (memory,
// haltredis) implement [Store].
//
// # Example
//
//	policy := halt.Policy{Name: "api", Limit: 100, Window: time.Minute}
//	l, err := halt.New(memory.New(), policy, halt.WithTrustedProxies("10.0.0.0/8"))
//	if err != nil { ... }
//	handler := halthttp.Middleware(l)(mux)
//
// Import the package with an explicit name:
//
//	import halt "github.com/halt-go/halt/core"
package halt
