package haltgin

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/adapter"
)

// request is the halt.Request view of a gin context. Being a pointer to
// the context itself, it costs no allocation.
type request gin.Context

var _ halt.Request = (*request)(nil)

func (q *request) Context() context.Context          { return q.Request.Context() }
func (q *request) Method() string                    { return q.Request.Method }
func (q *request) Path() string                      { return q.Request.URL.Path }
func (q *request) Header(name string) string         { return q.Request.Header.Get(name) }
func (q *request) HeaderValues(name string) []string { return q.Request.Header[name] } // core passes canonical names
func (q *request) RemoteAddr() string                { return q.Request.RemoteAddr }

// Route returns c.FullPath(): the pattern of the matched route
// ("/items/:id"), or "" when no route matched. gin routes a request before
// it runs any handler, so global and group middleware see it too.
func (q *request) Route() string { return (*gin.Context)(q).FullPath() }

// Value reads the gin context's keys (c.Set / c.Get).
func (q *request) Value(key any) any {
	v, _ := (*gin.Context)(q).Get(key)
	return v
}

// Request returns the halt.Request view of c, for calling the limiter's
// methods ([halt.Limiter.Check], Peek, Reset) from a handler.
func Request(c *gin.Context) halt.Request { return (*request)(c) }

// Option configures the middleware.
type Option = adapter.Option[*gin.Context]

// WithSkip skips the limiter (no check, no headers) for requests where fn
// returns true. A nil fn skips nothing.
func WithSkip(fn func(c *gin.Context) bool) Option { return adapter.Skip(fn) }

// WithCost sets a per-request cost; zero or less means the policy's cost.
// A nil fn keeps the policy's cost.
func WithCost(fn func(c *gin.Context) int64) Option { return adapter.Cost(fn) }

// WithDenyHandler replaces the default JSON rejection writer. The
// rate-limit headers, Retry-After and Cache-Control are already set; fn
// writes the response, and the middleware aborts the chain after it. A nil
// fn keeps the default.
func WithDenyHandler(fn func(c *gin.Context, d halt.Decision)) Option {
	if fn == nil {
		return nil // adapter.New ignores nil options
	}
	return adapter.Deny(func(c *gin.Context, d halt.Decision) error { fn(c, d); return nil })
}

// WithStatusEndpoint makes the middleware answer GET path itself, before
// any check, with the caller's standing under limiters as JSON, like
// GitHub's GET /rate_limit; it is never counted and never limited:
//
//	{"policies":[{"name":"public_api","limit":100,"remaining":97,"reset":2},...]}
//
// Give it to the outermost Halt middleware (r.Use runs for unrouted paths
// too, so the path needs no route of its own).
func WithStatusEndpoint(path string, limiters ...*halt.Limiter) Option {
	return adapter.StatusEndpoint[*gin.Context](path, limiters...)
}

// Middleware returns gin middleware that rate-limits with l. Use it with
// r.Use, group.Use, or in a route's handler chain for a per-route limit.
// Stacked limiters report the most restrictive decision in the headers,
// and never charge a refused request: when a later limiter (or [Check])
// rejects it, each earlier one gives back what it took once the chain
// returns. The header style is the limiter's ([halt.WithHeaderStyle]). It
// panics if l is nil.
func Middleware(l *halt.Limiter, opts ...Option) gin.HandlerFunc {
	m := adapter.New(l, opts...)
	return func(c *gin.Context) {
		q := (*request)(c)
		h := adapter.HTTPHeaders(c.Writer.Header())
		if status, body, ok := m.Status(q, h); ok {
			c.Abort()
			c.Data(status, "application/json", body)
			return
		}
		var d halt.Decision
		ok := m.HandleInto(c, q, h, &d)
		if !ok {
			refuse(c)
			c.Abort()
			_ = m.Reject(c, d, write(c))
			return
		}
		if d.NeedsFinish() {
			nextFinishing(c, l, q, d)
			return
		}
		c.Next()
		if d.Reason == halt.ReasonAllowed && refused(c) {
			giveBack(l, q, d)
		}
	}
}

// nextFinishing runs the rest of the chain for a request whose decision
// needs a finish (an in-flight lease, a policy that counts by outcome):
// once it returns, or panics (a 500), the lease is released and what does
// not count is given back; the panic goes on to gin.Recovery.
func nextFinishing(c *gin.Context, l *halt.Limiter, q *request, d halt.Decision) {
	defer func() {
		p := recover()
		status := c.Writer.Status()
		if p != nil {
			status = http.StatusInternalServerError
		}
		if d.Reason == halt.ReasonAllowed && refused(c) {
			_ = l.Undo(q.Context(), q, &d)
		}
		adapter.Finish(l, q, &d, status)
		if p != nil {
			panic(p)
		}
	}()
	c.Next()
}

// Reserve is Check for a handler that knows only an estimate of the cost
// up front (an LLM call's tokens, rows to export): on a rejection it
// aborts with it and returns false; otherwise the handler settles the
// real cost once known ([halt.Reservation.Settle]), up into debt or down
// with a refund:
//
//	res, ok := haltgin.Reserve(c, limiter, 500)
//	if !ok {
//		return
//	}
//	_ = res.Settle(generate(c))
func Reserve(c *gin.Context, l *halt.Limiter, estimate int64) (*halt.Reservation, bool) {
	q := (*request)(c)
	d, ok := adapter.Decide(l, q, adapter.HTTPHeaders(c.Writer.Header()), estimate)
	if !ok {
		refuse(c)
		c.Abort()
		_ = adapter.Reject(l, d, write(c))
		return nil, false
	}
	return halt.NewReservation(l, q, d), true
}

// Check is the middleware's check for a handler that knows the request's
// cost only once it runs (an LLM prompt's length, rows to export): it
// checks c with l at cost (zero or less: the policy's cost), writes the
// rate-limit headers, and on a rejection aborts the chain and writes the
// 429 (or other rejection) exactly as the middleware does; the Halt
// middleware before it then gives back what it took for the request. It
// reports whether the handler should go on:
//
//	r.POST("/generate", func(c *gin.Context) {
//		if !haltgin.Check(c, limiter, promptCost(c)) {
//			return
//		}
//		// ...
//	})
func Check(c *gin.Context, l *halt.Limiter, cost int64) bool {
	d, ok := adapter.Decide(l, (*request)(c), adapter.HTTPHeaders(c.Writer.Header()), cost)
	if !ok {
		refuse(c)
		c.Abort()
		_ = adapter.Reject(l, d, write(c))
	}
	return ok
}

// refusedKey marks, in the gin context's keys, a request a Halt limiter
// refused. Only a rejection sets it, so requests that pass every limiter
// cost no map of keys; each earlier middleware reads it once the chain
// returns and gives back what it took.
type refusedKey struct{}

func refuse(c *gin.Context) { c.Set(refusedKey{}, true) }

// refused reports whether a Halt limiter refused the request. A refusal
// always aborts the chain, so a chain that ran to its end needs no look in
// the keys (which takes the context's lock).
func refused(c *gin.Context) bool {
	if !c.IsAborted() {
		return false
	}
	_, ok := c.Get(refusedKey{})
	return ok
}

// giveBack returns what d took to l. It takes d by value so that the
// middleware's own copy never escapes; a refund that fails leaves the
// request counted, which never over-admits.
func giveBack(l *halt.Limiter, q *request, d halt.Decision) {
	_ = l.Undo(q.Context(), q, &d)
}

func write(c *gin.Context) func(status int, body []byte) error {
	return func(status int, body []byte) error {
		c.Data(status, "application/json", body)
		return nil
	}
}
