package haltfiber

import (
	"context"
	"net"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	halt "github.com/halt-go/halt/core"
)

// request is the halt.Request view of a fiber context; it is the context
// itself, so it costs no allocation. The strings it returns point into
// fasthttp's buffers and are valid only during the handler, which is all
// the limiter needs (see the package doc).
type request fiber.Ctx

var _ halt.Request = (*request)(nil)

func (q *request) ctx() *fiber.Ctx { return (*fiber.Ctx)(q) }

// Context returns fiber's user context (c.UserContext).
func (q *request) Context() context.Context { return q.ctx().UserContext() }

// Method returns the request method.
func (q *request) Method() string { return q.ctx().Method() }

// Path returns c.Path(): the path fiber routes on (unescaped only with
// fiber.Config.UnescapePath), so exemptions see what the router sees.
func (q *request) Path() string { return q.ctx().Path() }

// Header returns the first value of the request header name.
func (q *request) Header(name string) string { return q.ctx().Get(name) }

// HeaderValues returns every field line of the request header name, so an
// X-Forwarded-For sent twice is read whole. It allocates only when the
// header is present.
func (q *request) HeaderValues(name string) []string {
	lines := q.ctx().Request().Header.PeekAll(name)
	if len(lines) == 0 {
		return nil
	}
	vals := make([]string, len(lines))
	for i, b := range lines {
		vals[i] = utils.UnsafeString(b)
	}
	return vals
}

// RemoteAddr returns the raw peer address ("ip:port"); fiber's c.IP and
// its proxy settings are never consulted.
func (q *request) RemoteAddr() string {
	addr := q.ctx().Context().RemoteAddr()
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.AddrPort().String() // one allocation instead of TCPAddr.String's three
	}
	return addr.String()
}

// Value reads c.Locals.
func (q *request) Value(key any) any { return q.ctx().Locals(key) }

// Request returns the halt.Request view of c, for calling
// [halt.Limiter.Check] from a handler (for a cost known only there).
func Request(c *fiber.Ctx) halt.Request { return (*request)(c) }

// response lets core write the rate-limit headers onto fiber's response;
// fasthttp copies every value it is given.
type response fiber.Ctx

var _ halt.ResponseHeaders = (*response)(nil)

func (w *response) Get(name string) string { return (*fiber.Ctx)(w).GetRespHeader(name) }
func (w *response) Set(name, value string) { (*fiber.Ctx)(w).Set(name, value) }
func (w *response) Add(name, value string) { (*fiber.Ctx)(w).Response().Header.Add(name, value) }

// Option configures the middleware.
type Option = halt.MiddlewareOption[*fiber.Ctx]

// WithNext skips the middleware (no check, no headers) when next returns
// true: the Next convention of fiber's own middleware.
func WithNext(next func(c *fiber.Ctx) bool) Option { return halt.MiddlewareSkip(next) }

// WithSkip is [WithNext] under the name the other Halt adapters use.
func WithSkip(fn func(c *fiber.Ctx) bool) Option { return WithNext(fn) }

// WithCost sets a per-request cost; zero or less means the policy's cost.
func WithCost(fn func(c *fiber.Ctx) int64) Option { return halt.MiddlewareCost(fn) }

// WithDenyHandler replaces the default JSON 429 writer. The rate-limit
// headers, Retry-After and Cache-Control are already set on the response;
// fn writes it, and its error goes to fiber's ErrorHandler.
func WithDenyHandler(fn func(c *fiber.Ctx, d halt.Decision) error) Option {
	return halt.MiddlewareDeny(fn)
}

// WithLimitReached is [WithDenyHandler] for a plain fiber.Handler, as the
// LimitReached field of fiber's limiter middleware.
func WithLimitReached(h fiber.Handler) Option {
	return WithDenyHandler(func(c *fiber.Ctx, _ halt.Decision) error { return h(c) })
}

// WithHeaderStyle overrides the limiter's header style.
func WithHeaderStyle(s halt.HeaderStyle) Option { return halt.MiddlewareHeaderStyle[*fiber.Ctx](s) }

// Middleware returns fiber middleware that rate-limits with l. Use it with
// app.Use, on a group, or before a route's handler for a per-route limit;
// stacked limiters report the most restrictive decision in the headers. It
// panics if l is nil.
func Middleware(l *halt.Limiter, opts ...Option) fiber.Handler {
	m := halt.NewMiddleware(l, opts...)
	return func(c *fiber.Ctx) error {
		d, ok := m.Handle(c, (*request)(c), (*response)(c))
		if ok {
			return c.Next()
		}
		return m.Reject(c, d, func(status int, body []byte) error {
			c.Status(status).Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
			return c.Send(body)
		})
	}
}
