package haltecho

import (
	"context"

	halt "github.com/halt-go/halt/core"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// exchange is one request as the limiter sees it: the halt.Request over
// the echo context and the response headers, in one allocation.
type exchange struct {
	c echo.Context
	halt.HTTPHeaderWriter
}

var (
	_ halt.Request         = (*exchange)(nil)
	_ halt.ResponseHeaders = (*exchange)(nil)
)

func (x *exchange) Context() context.Context { return x.c.Request().Context() }
func (x *exchange) Method() string           { return x.c.Request().Method }
func (x *exchange) Path() string             { return x.c.Request().URL.Path }

// Header and HeaderValues read the request's headers, not the response's.
// Core passes canonical names, so HeaderValues skips canonicalization.
func (x *exchange) Header(name string) string         { return x.c.Request().Header.Get(name) }
func (x *exchange) HeaderValues(name string) []string { return x.c.Request().Header[name] }

// RemoteAddr is the raw peer address: echo's RealIP is never consulted.
func (x *exchange) RemoteAddr() string { return x.c.Request().RemoteAddr }

// Value reads the echo context's store (c.Set / c.Get); echo's keys are
// strings, so other keys find nothing.
func (x *exchange) Value(key any) any {
	if name, ok := key.(string); ok {
		return x.c.Get(name)
	}
	return nil
}

// Request returns the halt.Request view of c, for calling
// [halt.Limiter.Check] from a handler (for a cost known only there).
func Request(c echo.Context) halt.Request { return &exchange{c: c} }

// Option configures the middleware.
type Option = halt.MiddlewareOption[echo.Context]

// WithSkip skips the limiter (no check, no headers) for requests where
// skipper returns true, as the Skipper of echo's own middleware configs.
func WithSkip(skipper middleware.Skipper) Option { return halt.MiddlewareSkip[echo.Context](skipper) }

// WithCost sets a per-request cost; zero or less means the policy's cost.
func WithCost(fn func(c echo.Context) int64) Option { return halt.MiddlewareCost(fn) }

// WithDenyHandler replaces the default JSON 429 writer. The rate-limit
// headers, Retry-After and Cache-Control are already set on the response;
// fn writes it and its error goes to echo's HTTPErrorHandler.
func WithDenyHandler(fn func(c echo.Context, d halt.Decision) error) Option {
	return halt.MiddlewareDeny(fn)
}

// WithHeaderStyle overrides the limiter's header style.
func WithHeaderStyle(s halt.HeaderStyle) Option { return halt.MiddlewareHeaderStyle[echo.Context](s) }

// Middleware returns echo middleware that rate-limits with l. Use it with
// e.Use, on a group, or as route-level middleware for a per-route limit;
// stacked limiters report the most restrictive decision in the headers. It
// panics if l is nil.
func Middleware(l *halt.Limiter, opts ...Option) echo.MiddlewareFunc {
	m := halt.NewMiddleware(l, opts...)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			x := &exchange{c: c}
			x.Init(c.Response().Header())
			d, ok := m.Handle(c, x, x)
			if ok {
				return next(c)
			}
			return m.Reject(c, d, func(status int, body []byte) error { return c.JSONBlob(status, body) })
		}
	}
}
