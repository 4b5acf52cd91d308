// Package haltgin is Halt's gin adapter: rate-limiting middleware as a
// [gin.HandlerFunc] for a whole engine (r.Use), a group (g.Use) or a single
// route's handler chain (the gin form of FastAPI's Depends and Flask's
// @limit), and [Check] for a cost known only inside a handler.
//
// Client IPs come from Halt's own resolver (trusted proxies declared with
// halt.WithTrustedProxies), never from gin's c.ClientIP, whose defaults
// trust every proxy. The user strategy reads the user id from the gin
// context (c.Set("user_id", id) before the middleware runs). The header
// style is the limiter's (halt.WithHeaderStyle).
//
// Stacked limiters never charge a refused request: when a later limiter
// (or Check) refuses it, the earlier ones give back what they took.
// [WithStatusEndpoint] answers a GET /rate_limit of the caller's standing.
//
// A policy with PerRoute set counts each route apart under its pattern,
// gin's c.FullPath() ("/items/:id"). gin routes before it runs any handler,
// so the pattern is known in r.Use and group middleware as well.
//
// # Example
//
//	store := memory.New(nil)
//	global, _ := halt.New(store, presets.PublicAPI(), halt.WithTrustedProxies("10.0.0.0/8"))
//	auth, _ := halt.New(store, presets.AuthEndpoints(), halt.WithTrustedProxies("10.0.0.0/8"))
//
//	r := gin.New()
//	r.Use(haltgin.Middleware(global))                          // every route
//	r.POST("/auth/login", haltgin.Middleware(auth), login)     // stacked, per route
//	r.GET("/health", health)                                   // exempt by default
//
//	r.POST("/generate", func(c *gin.Context) {                 // a cost known in the handler
//		if !haltgin.Check(c, tokens, promptCost(c)) {
//			return
//		}
//		// ...
//	})
package haltgin
