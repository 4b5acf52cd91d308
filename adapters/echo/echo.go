package haltecho

import (
	"context"
	"errors"
	"net/http"
	"sync"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/adapter"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// exchange is one request as the limiter sees it: the halt.Request over
// the echo context and the response headers. The middleware and Check
// take their exchanges from a pool: nothing keeps one past the request
// (the limiter keeps a Request only in a Reservation, and Reserve
// allocates its own), and no header value points into it.
type exchange struct {
	c echo.Context
	adapter.HTTPHeaderWriter
}

// exchanges recycles the middleware's exchanges.
var exchanges = sync.Pool{New: func() any { return new(exchange) }}

// release returns x to the pool, keeping no reference to its context.
func (x *exchange) release() {
	*x = exchange{}
	exchanges.Put(x)
}

var (
	_ halt.Request         = (*exchange)(nil)
	_ halt.ResponseHeaders = (*exchange)(nil)
)

func (x *exchange) Context() context.Context { return x.c.Request().Context() }
func (x *exchange) Method() string           { return x.c.Request().Method }
func (x *exchange) Path() string             { return x.c.Request().URL.Path }

// Route returns c.Path(): the pattern of the matched route ("/items/:id").
// echo routes before it runs e.Use middleware, so that middleware sees it;
// middleware added with e.Pre runs before routing and sees "". A request
// no route matched has "", one whose path matched a route of another
// method (a 405) has that route's pattern.
func (x *exchange) Route() string { return x.c.Path() }

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

// Request returns the halt.Request view of c, for calling the limiter's
// methods ([halt.Limiter.Check], Peek, Reset) from a handler.
func Request(c echo.Context) halt.Request { return &exchange{c: c} }

// Option configures the middleware.
type Option = adapter.Option[echo.Context]

// WithSkip skips the limiter (no check, no headers) for requests where
// skipper returns true, as the Skipper of echo's own middleware configs.
// A nil skipper skips nothing.
func WithSkip(skipper middleware.Skipper) Option { return adapter.Skip[echo.Context](skipper) }

// WithCost sets a per-request cost; zero or less means the policy's cost.
// A nil fn keeps the policy's cost.
func WithCost(fn func(c echo.Context) int64) Option { return adapter.Cost(fn) }

// WithDenyHandler replaces the default JSON rejection writer. The
// rate-limit headers, Retry-After and Cache-Control are already set on the
// response; fn writes it and its error goes to echo's HTTPErrorHandler. A
// nil fn keeps the default.
func WithDenyHandler(fn func(c echo.Context, d halt.Decision) error) Option {
	return adapter.Deny(fn)
}

// WithStatusEndpoint makes the middleware answer GET path itself, before
// any check, with the caller's standing under limiters as JSON, like
// GitHub's GET /rate_limit; it is never counted and never limited:
//
//	{"policies":[{"name":"public_api","limit":100,"remaining":97,"reset":2},...]}
//
// Give it to the outermost Halt middleware (e.Use runs for unrouted paths
// too, so the path needs no route of its own).
func WithStatusEndpoint(path string, limiters ...*halt.Limiter) Option {
	return adapter.StatusEndpoint[echo.Context](path, limiters...)
}

// Middleware returns echo middleware that rate-limits with l. Use it with
// e.Use, on a group, or as route-level middleware for a per-route limit.
// Stacked limiters report the most restrictive decision in the headers,
// and never charge a refused request: when a later limiter (or [Check])
// rejects it, each earlier one gives back what it took once the chain
// returns. The header style is the limiter's ([halt.WithHeaderStyle]). It
// panics if l is nil.
func Middleware(l *halt.Limiter, opts ...Option) echo.MiddlewareFunc {
	m := adapter.New(l, opts...)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			x := exchanges.Get().(*exchange)
			x.c = c
			x.Init(c.Response().Header())
			err := serve(m, x, next)
			// Not reached when the chain panics: the panic may still
			// reach code that holds x, so x is left to the collector.
			x.release()
			return err
		}
	}
}

// serve is the middleware for one request: the status endpoint, the
// check, then next, giving back what was taken when a later limiter
// refuses the request.
func serve(m *adapter.Middleware[echo.Context], x *exchange, next echo.HandlerFunc) error {
	c := x.c
	if status, body, ok := m.Status(x, x); ok {
		return c.JSONBlob(status, body)
	}
	var d halt.Decision
	ok := m.HandleInto(c, x, x, &d)
	if !ok {
		c.Set(refusedKey, true)
		return m.Reject(c, d, x.write)
	}
	if d.NeedsFinish() {
		return nextFinishing(c, next, m.Limiter(), x, d)
	}
	err := next(c)
	if d.Reason == halt.ReasonAllowed && c.Get(refusedKey) != nil {
		giveBack(m.Limiter(), x, d)
	}
	return err
}

// nextFinishing runs next for a request whose decision needs a finish (an
// in-flight lease, a policy that counts by outcome): once it returns, or
// panics (a 500), the lease is released and what does not count is given
// back. The status is the one next's error will be answered with (an
// *echo.HTTPError's code, 500 for other errors), else the response's.
// The panic goes on to echo's Recover middleware.
func nextFinishing(c echo.Context, next echo.HandlerFunc, l *halt.Limiter, x *exchange, d halt.Decision) (err error) {
	defer func() {
		p := recover()
		status := statusOf(c, err)
		if p != nil {
			status = http.StatusInternalServerError
		}
		if d.Reason == halt.ReasonAllowed && c.Get(refusedKey) != nil {
			_ = l.Undo(x.Context(), x, &d)
		}
		adapter.Finish(l, x, &d, status)
		if p != nil {
			panic(p)
		}
	}()
	return next(c)
}

// statusOf is the status a handler's result is answered with.
func statusOf(c echo.Context, err error) int {
	if err == nil {
		return c.Response().Status
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return he.Code
	}
	return http.StatusInternalServerError
}

// Reserve is Check for a handler that knows only an estimate of the cost
// up front (an LLM call's tokens, rows to export): on a rejection it
// writes it and returns false with the write's error; otherwise the
// handler settles the real cost once known ([halt.Reservation.Settle]), up
// into debt or down with a refund:
//
//	res, ok, err := haltecho.Reserve(c, limiter, 500)
//	if !ok {
//		return err
//	}
//	_ = res.Settle(generate(c))
func Reserve(c echo.Context, l *halt.Limiter, estimate int64) (*halt.Reservation, bool, error) {
	x := &exchange{c: c}
	x.Init(c.Response().Header())
	d, ok := adapter.Decide(l, x, x, estimate)
	if !ok {
		c.Set(refusedKey, true)
		return nil, false, adapter.Reject(l, d, x.write)
	}
	return halt.NewReservation(l, x, d), true, nil
}

// Check is the middleware's check for a handler that knows the request's
// cost only once it runs (an LLM prompt's length, rows to export): it
// checks c with l at cost (zero or less: the policy's cost), writes the
// rate-limit headers, and on a rejection writes the 429 (or other
// rejection) exactly as the middleware does; the Halt middleware before it
// then gives back what it took for the request. It reports whether the
// handler should go on, and the error of writing the rejection, for the
// handler to return:
//
//	e.POST("/generate", func(c echo.Context) error {
//		if ok, err := haltecho.Check(c, limiter, promptCost(c)); !ok {
//			return err
//		}
//		// ...
//	})
func Check(c echo.Context, l *halt.Limiter, cost int64) (bool, error) {
	x := exchanges.Get().(*exchange)
	x.c = c
	x.Init(c.Response().Header())
	d, ok := adapter.Decide(l, x, x, cost)
	var err error
	if !ok {
		c.Set(refusedKey, true)
		err = adapter.Reject(l, d, x.write)
	}
	x.release() // not reached on a panic, as in the middleware
	return ok, err
}

// refusedKey marks, in the echo context's store, a request a Halt limiter
// refused. Only a rejection sets it, so requests that pass every limiter
// cost no store; each earlier middleware reads it once the chain returns
// and gives back what it took.
const refusedKey = "github.com/halt-go/halt/adapters/echo.refused"

// giveBack returns what d took to l. It takes d by value so that the
// middleware's own copy never escapes; a refund that fails leaves the
// request counted, which never over-admits.
func giveBack(l *halt.Limiter, x *exchange, d halt.Decision) {
	_ = l.Undo(x.Context(), x, &d)
}

// write sends a default rejection.
func (x *exchange) write(status int, body []byte) error { return x.c.JSONBlob(status, body) }
