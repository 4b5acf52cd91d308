package haltgin

import (
	"context"

	"github.com/gin-gonic/gin"
	halt "github.com/halt-go/halt/core"
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

// Value reads the gin context's keys (c.Set / c.Get).
func (q *request) Value(key any) any {
	v, _ := (*gin.Context)(q).Get(key)
	return v
}

// Request returns the halt.Request view of c, for calling
// [halt.Limiter.Check] from a handler (for a cost known only there).
func Request(c *gin.Context) halt.Request { return (*request)(c) }

// Option configures the middleware.
type Option = halt.MiddlewareOption[*gin.Context]

// WithSkip skips the limiter (no check, no headers) for requests where fn
// returns true.
func WithSkip(fn func(c *gin.Context) bool) Option { return halt.MiddlewareSkip(fn) }

// WithCost sets a per-request cost; zero or less means the policy's cost.
func WithCost(fn func(c *gin.Context) int64) Option { return halt.MiddlewareCost(fn) }

// WithDenyHandler replaces the default JSON 429 writer. The rate-limit
// headers, Retry-After and Cache-Control are already set; fn writes the
// response, and the middleware aborts the chain after it. A nil fn keeps
// the default.
func WithDenyHandler(fn func(c *gin.Context, d halt.Decision)) Option {
	if fn == nil {
		return nil // NewMiddleware ignores nil options
	}
	return halt.MiddlewareDeny(func(c *gin.Context, d halt.Decision) error { fn(c, d); return nil })
}

// WithHeaderStyle overrides the limiter's header style.
func WithHeaderStyle(s halt.HeaderStyle) Option { return halt.MiddlewareHeaderStyle[*gin.Context](s) }

// Middleware returns gin middleware that rate-limits with l. Use it with
// r.Use, group.Use, or in a route's handler chain for a per-route limit;
// stacked limiters report the most restrictive decision in the headers. It
// panics if l is nil.
func Middleware(l *halt.Limiter, opts ...Option) gin.HandlerFunc {
	m := halt.NewMiddleware(l, opts...)
	return func(c *gin.Context) {
		d, ok := m.Handle(c, (*request)(c), halt.HTTPHeaders(c.Writer.Header()))
		if ok {
			c.Next()
			return
		}
		c.Abort()
		_ = m.Reject(c, d, func(status int, body []byte) error {
			c.Data(status, "application/json", body)
			return nil
		})
	}
}
