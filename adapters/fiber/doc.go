// Package haltfiber is Halt's fiber (v2) adapter: rate-limiting middleware
// as a [fiber.Handler] for the whole app (app.Use), a group (app.Group(prefix,
// mw)) or one route (app.Post(path, mw, handler), the fiber form of
// FastAPI's Depends and Flask's @limit), and [Check] for a cost known only
// inside a handler.
//
// Options follow fiber's conventions: [WithNext] skips the middleware when
// its function returns true, like the Next field of fiber's own middleware
// configs, and [WithLimitReached] takes a fiber.Handler for rejected
// requests, like fiber's limiter.
//
// Client IPs come from Halt's own resolver (trusted proxies declared with
// halt.WithTrustedProxies), never from fiber's c.IP or ProxyHeader. The
// user strategy reads the user id from c.Locals (c.Locals("user_id", id) in
// an earlier handler). The header style is the limiter's
// (halt.WithHeaderStyle).
//
// Stacked limiters never charge a refused request: when a later limiter
// (or Check) refuses it, the earlier ones give back what they took.
// [WithStatusEndpoint] answers a GET /rate_limit of the caller's standing.
//
// fasthttp reuses its buffers once a handler returns, so strings read from a
// request are only valid during it. Halt never keeps them: the limiter reads
// them during the check and the stores copy keys. A user id put into
// c.Locals is copied into the key the same way. The middleware's
// halt.Request views are pooled the same way: a KeyFunc or resolver gets
// one for the length of its call, and must not keep it.
//
// Requests larger than fiber's ReadBufferSize (4096 bytes by default) are
// refused before any middleware runs; behind proxies that build long
// X-Forwarded-For chains, raise it (fiber.Config{ReadBufferSize: 64 << 10}).
//
// # Routes
//
// A policy with PerRoute set counts each route apart under its pattern,
// the route's registered path ("/items/:id", "/api/files/*"); KeyFuncs read
// it as [halt.Request.Route]. In a route's own handlers and route-level
// middleware (app.Post(path, mw, handler)) it is c.Route().Path. In
// middleware added with app.Use or group.Use, c.Route() is that Use route,
// so the adapter finds the route the request will reach the way fiber's
// router does: the first route after the current one in the stack of the
// request's method that is not a Use route and whose path matches the
// request's path, honouring CaseSensitive and StrictRouting. It does this
// only when Route is called, and its cost grows with the number of routes
// of the method (roughly 0.1 µs a route). The scope of that matcher:
//
//   - Static segments, ":param", and as the last segment ":param?", "*"
//     and "+" are matched without allocating.
//   - Any other syntax (constraints such as ":id<int>", several parameters
//     in one segment such as "/:from-:to", wildcards inside or before other
//     segments, escapes, empty segments) is matched by fiber's own
//     [fiber.RoutePatternMatch]: the same answer, but it parses the pattern,
//     and allocates, on every call.
//   - Requests answered by Use routes themselves (app.Use("/static", h),
//     app.Static) have no route: Route is "", as for requests no route
//     matches.
//   - The route reported is the first that matches. A handler that passes
//     the request on with c.Next() to a later matching route is not
//     followed.
//   - Telling Use routes apart relies on fields fiber.Route does not
//     export (read with reflect; the tests fail if a fiber release renames
//     them). Without them, a route whose path matches the request's whole
//     path is taken for the route reached.
//
// # Example
//
//	store := memory.New(nil)
//	global, _ := halt.New(store, presets.PublicAPI(), halt.WithTrustedProxies("10.0.0.0/8"))
//	auth, _ := halt.New(store, presets.AuthEndpoints(), halt.WithTrustedProxies("10.0.0.0/8"))
//
//	app := fiber.New()
//	app.Use(haltfiber.Middleware(global))                          // every route
//	app.Post("/auth/login", haltfiber.Middleware(auth), login)     // stacked, per route
//	app.Get("/health", health)                                     // exempt by default
//
//	app.Post("/generate", func(c *fiber.Ctx) error {              // a cost known in the handler
//		if ok, err := haltfiber.Check(c, tokens, promptCost(c)); !ok {
//			return err
//		}
//		// ...
//	})
package haltfiber
