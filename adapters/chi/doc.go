// Package haltchi is Halt's chi (v5) adapter: rate-limiting router
// middleware for r.Use, r.With and r.Group, [Check] for a cost known only
// inside a handler, and chi route patterns for per-route limits. chi
// middleware is net/http middleware: haltchi is the net/http adapter
// [halthttp] with chi's route patterns as [halt.Request.Route].
//
// Per-route limits, the chi form of FastAPI's Depends and Flask's @limit,
// are route-level middleware: r.With(haltchi.Middleware(auth)).Post(...),
// or every route of an r.Group. Stacked limiters report the most
// restrictive decision in the headers, and never charge a refused request:
// when a later limiter (or Check) refuses it, the earlier ones give back
// what they took. [WithStatusEndpoint] answers a GET /rate_limit of the
// caller's standing.
//
// Client IPs come from Halt's own resolver (trusted proxies declared with
// halt.WithTrustedProxies); chi's middleware.RealIP rewrites RemoteAddr from
// spoofable headers and must not run before Halt. The user strategy reads
// the user id from the request context ([WithUser]). The header style is
// the limiter's (halt.WithHeaderStyle).
//
// # Route patterns
//
// chi knows a request's route pattern ("/items/{id}") only once it has
// routed the request. Route-level middleware (r.With, r.Group) and handlers
// run after routing and see the final pattern; middleware added with r.Use
// runs before routing, and on a mounted subrouter sees only the mount
// ("/api/*"). [RoutePattern] hides the difference: where routing is not
// done yet it asks the router (chi's Routes.Find) where the request will
// go, so the pattern, and every key built from it, is the same at every
// level. It is the Route of the requests haltchi hands the limiter, so a
// policy with PerRoute set counts each route separately per client, and
// [RoutePatternKey] is a Policy.KeyFunc for one budget per route shared by
// all clients.
//
// # Example
//
//	store := memory.New(nil)
//	global, _ := halt.New(store, presets.PublicAPI(), halt.WithTrustedProxies("10.0.0.0/8"))
//	auth, _ := halt.New(store, presets.AuthEndpoints(), halt.WithTrustedProxies("10.0.0.0/8"))
//
//	r := chi.NewRouter()
//	r.Use(haltchi.Middleware(global))                              // every route
//	r.With(haltchi.Middleware(auth)).Post("/auth/login", login)    // stacked, per route
//	r.Get("/health", health)                                       // exempt by default
//
//	r.Post("/generate", func(w http.ResponseWriter, r *http.Request) { // a cost known in the handler
//		if !haltchi.Check(w, r, tokens, promptCost(r)) {
//			return
//		}
//		// ...
//	})
package haltchi
