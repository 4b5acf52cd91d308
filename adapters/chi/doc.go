// Package haltchi is Halt's chi (v5) adapter: rate-limiting router
// middleware for r.Use, r.With and r.Group, built on the net/http adapter
// [halthttp] (chi middleware is net/http middleware), plus chi route
// patterns as rate-limit keys.
//
// Per-route limits, the chi form of FastAPI's Depends and Flask's @limit,
// are route-level middleware: r.With(haltchi.Middleware(auth)).Post(...),
// or every route of an r.Group. Stacked limiters report the most
// restrictive decision in the headers.
//
// Client IPs come from Halt's own resolver (trusted proxies declared with
// halt.WithTrustedProxies); chi's middleware.RealIP rewrites RemoteAddr from
// spoofable headers and must not run before Halt. The user strategy reads
// the user id from the request context ([WithUser]).
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
// level. [KeyByRoutePattern] counts each route separately per client;
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
package haltchi
