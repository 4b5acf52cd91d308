// Package halt is the framework-neutral core of Halt for Go: policies, the
// three rate-limiting algorithms, client-IP resolution, key strategies,
// exemptions, header encoders and the store contract.
//
// It imports nothing outside the standard library. Framework adapters
// (halthttp, haltchi, haltgin, haltecho, haltfiber) turn a framework's
// request into a [Request] and write what a [Decision] renders; stores
// (memory, haltredis) implement [Store] and its capabilities ([Peeker],
// [Resetter], [Refunder]). Adapter authors build on the sub-package
// core/adapter; applications never need it.
//
// # Example
//
//	store := memory.New(nil) // github.com/halt-go/halt/stores/memory
//	defer store.Close()
//	policy := halt.Policy{Name: "api", Limit: 100, Window: time.Minute}
//	l, err := halt.New(store, policy, halt.WithTrustedProxies("10.0.0.0/8"))
//	if err != nil {
//		log.Fatal(err)
//	}
//	handler := halthttp.Middleware(l)(mux) // github.com/halt-go/halt/adapters/nethttp
//
// Import the package with an explicit name:
//
//	import halt "github.com/halt-go/halt/core"
//
// # Keys
//
// A request is counted under "halt:<policy>:{<client>}", where the client
// part is "ip:<address>" (IPv6 by its /64 prefix), "user:<id>", "key:<hash
// of the API key>", "user:<id>|ip:<address>" or "custom:<value>"; a policy
// with PerRoute set adds the route pattern before the brace. The braces
// are a Redis Cluster hash tag: every policy of one client lives in one
// slot. Braces and '%' inside the parts are percent-escaped.
//
// # Client addresses
//
// The peer address is the client unless the peer is a trusted proxy
// ([WithTrustedProxies]); then X-Forwarded-For (every field line) is read
// from the right and the first address that is not a trusted proxy is the
// client, never the spoofable leftmost one. Junk stops the walk at the
// nearest trusted hop, and a request whose proxy named no client beyond the
// trusted proxies is limited under the proxy's own address.
package halt
