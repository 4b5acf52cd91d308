// Package haltecho is Halt's echo (v4) adapter: rate-limiting middleware as
// an [echo.MiddlewareFunc] for the whole server (e.Use), a group
// (g.Use or e.Group(prefix, mw)) or one route (e.POST(path, h, mw), the
// echo form of FastAPI's Depends and Flask's @limit).
//
// Options follow echo's conventions: [WithSkip] takes a
// [middleware.Skipper], and the deny handler returns an error like any
// echo handler. Client IPs come from Halt's own resolver (trusted proxies
// declared with halt.WithTrustedProxies), never from echo's c.RealIP or
// e.IPExtractor. The user strategy reads the user id from the echo context
// (c.Set("user_id", id) in an earlier middleware).
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
package haltecho
