package haltecho

import (
	"context"

	halt "github.com/halt-go/halt/core"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// request is the halt.Request view of an echo context.
type request struct{ c echo.Context }

var _ halt.Request = request{}

func (q request) Context() context.Context { return q.c.Request().Context() }
func (q request) Method() string           { return q.c.Request().Method }
func (q request) Path() string             { return q.c.Request().URL.Path }

// Header and HeaderValues read the request's headers, not the response's.
func (q request) Header(name string) string         { return q.c.Request().Header.Get(name) }
func (q request) HeaderValues(name string) []string { return q.c.Request().Header.Values(name) }

// RemoteAddr is the raw peer address: echo's RealIP is never consulted.
func (q request) RemoteAddr() string { return q.c.Request().RemoteAddr }

// Value reads the echo context's store (c.Set / c.Get); echo's keys are
// strings, so other keys find nothing.
func (q request) Value(key any) any {
	if name, ok := key.(string); ok {
		return q.c.Get(name)
	}
	return nil
}

// Request returns the halt.Request view of c, for calling
// [halt.Limiter.Check] from a handler (for a cost known only there).
func Request(c echo.Context) halt.Request { return request{c} }

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
			d, ok := m.Handle(c, request{c}, halt.HTTPHeaders(c.Response().Header()))
			if ok {
				return next(c)
			}
			return m.Reject(c, d, func(status int, body []byte) error { return c.JSONBlob(status, body) })
		}
	}
}
