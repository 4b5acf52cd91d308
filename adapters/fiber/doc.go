// Package haltfiber is Halt's fiber (v2) adapter: rate-limiting middleware
// as a [fiber.Handler] for the whole app (app.Use), a group (app.Group(prefix,
// mw)) or one route (app.Post(path, mw, handler), the fiber form of
// FastAPI's Depends and Flask's @limit).
//
// Options follow fiber's conventions: [WithNext] skips the middleware when
// its function returns true, like the Next field of fiber's own middleware
// configs, and [WithLimitReached] takes a fiber.Handler for rejected
// requests, like fiber's limiter.
//
// Client IPs come from Halt's own resolver (trusted proxies declared with
// halt.WithTrustedProxies), never from fiber's c.IP or ProxyHeader. The
// user strategy reads the user id from c.Locals (c.Locals("user_id", id) in
// an earlier handler).
//
// fasthttp reuses its buffers once a handler returns, so strings read from a
// request are only valid during it. Halt never keeps them: the limiter reads
// them during the check and the stores copy keys. A user id put into
// c.Locals is copied into the key the same way.
//
// Requests larger than fiber's ReadBufferSize (4096 bytes by default) are
// refused before any middleware runs; behind proxies that build long
// X-Forwarded-For chains, raise it (fiber.Config{ReadBufferSize: 64 << 10}).
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
package haltfiber
