// Package haltecho is Halt's echo (v4) adapter: rate-limiting middleware as
// an [echo.MiddlewareFunc] for the whole server (e.Use), a group
// (g.Use or e.Group(prefix, mw)) or one route (e.POST(path, h, mw), the
// echo form of FastAPI's Depends and Flask's @limit), and [Check] for a
// cost known only inside a handler.
//
// Options follow echo's conventions: [WithSkip] takes a
// [middleware.Skipper], and the deny handler returns an error like any
// echo handler. Client IPs come from Halt's own resolver (trusted proxies
// declared with halt.WithTrustedProxies), never from echo's c.RealIP or
// e.IPExtractor. The user strategy reads the user id from the echo context
// (c.Set("user_id", id) in an earlier middleware). The header style is the
// limiter's (halt.WithHeaderStyle).
//
// Stacked limiters never charge a refused request: when a later limiter
// (or Check) refuses it, the earlier ones give back what they took.
// [WithStatusEndpoint] answers a GET /rate_limit of the caller's standing.
//
// A policy with PerRoute set counts each route apart under its pattern,
// echo's c.Path() ("/items/:id"). echo routes before e.Use middleware
// runs, so the pattern is known there and in groups; middleware added with
// e.Pre runs before routing and sees no route.
//
// # Example
//
//	store := memory.New(nil)
//	global, _ := halt.New(store, presets.PublicAPI(), halt.WithTrustedProxies("10.0.0.0/8"))
//	auth, _ := halt.New(store, presets.AuthEndpoints(), halt.WithTrustedProxies("10.0.0.0/8"))
//
//	e := echo.New()
//	e.Use(haltecho.Middleware(global))                       // every route
//	e.POST("/auth/login", login, haltecho.Middleware(auth))  // stacked, per route
//	e.GET("/health", health)                                 // exempt by default
//
//	e.POST("/generate", func(c echo.Context) error {         // a cost known in the handler
//		if ok, err := haltecho.Check(c, tokens, promptCost(c)); !ok {
//			return err
//		}
//		// ...
//	})
package haltecho
