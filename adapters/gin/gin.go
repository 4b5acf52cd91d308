package haltgin

import (
	"context"

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

// Middleware returns gin middleware that rate-limits with l. Use it with
// r.Use, group.Use, or in a route's handler chain for a per-route limit;
// stacked limiters report the most restrictive decision in the headers.
// The header style is the limiter's ([halt.WithHeaderStyle]). It panics if
// l is nil.
func Middleware(l *halt.Limiter, opts ...Option) gin.HandlerFunc {
	m := adapter.New(l, opts...)
	return func(c *gin.Context) {
		d, ok := m.Handle(c, (*request)(c), adapter.HTTPHeaders(c.Writer.Header()))
		if ok {
			c.Next()
			return
		}
		c.Abort()
		_ = m.Reject(c, d, write(c))
	}
}

// Check is the middleware's check for a handler that knows the request's
// cost only once it runs (an LLM prompt's length, rows to export): it
// checks c with l at cost (zero or less: the policy's cost), writes the
// rate-limit headers, and on a rejection aborts the chain and writes the
// 429 (or other rejection) exactly as the middleware does. It reports
// whether the handler should go on:
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
		c.Abort()
		_ = adapter.Reject(l, d, write(c))
	}
	return ok
}

func write(c *gin.Context) func(status int, body []byte) error {
	return func(status int, body []byte) error {
		c.Data(status, "application/json", body)
		return nil
	}
}
