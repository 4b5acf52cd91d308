// Package halthttp is Halt's net/http adapter: rate-limiting middleware of
// the standard shape func(http.Handler) http.Handler, for a whole server or
// one route of an http.ServeMux.
//
// # Example
//
//	l, err := halt.New(memory.New(nil), presets.PublicAPI())
//	if err != nil { log.Fatal(err) }
//	mux := http.NewServeMux()
//	mux.Handle("POST /auth/login", halthttp.Middleware(authLimiter)(login))
//	log.Fatal(http.ListenAndServe(":8080", halthttp.Middleware(l)(mux)))
package halthttp

import (
	"context"
	"net/http"

	halt "github.com/halt-go/halt/core"
)

// ContextKey names a per-request value in a request's context. The user
// strategy looks its value name up as ContextKey(name) (and as the plain
// name), so handlers set the user with [WithUser] or
// context.WithValue(ctx, halthttp.ContextKey("user_id"), id).
type ContextKey string

// WithUser returns r carrying id as the authenticated user for the user and
// composite strategies (under halt.DefaultUserKey).
func WithUser(r *http.Request, id any) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), ContextKey(halt.DefaultUserKey), id))
}

// Request returns the halt.Request view of r, for calling
// [halt.Limiter.Check] from a handler (for a cost known only there).
func Request(r *http.Request) halt.Request { return request{r} }

type request struct{ r *http.Request }

var _ halt.Request = request{}

func (q request) Context() context.Context          { return q.r.Context() }
func (q request) Method() string                    { return q.r.Method }
func (q request) Path() string                      { return q.r.URL.Path }
func (q request) Header(name string) string         { return q.r.Header.Get(name) }
func (q request) HeaderValues(name string) []string { return q.r.Header[name] }
func (q request) RemoteAddr() string                { return q.r.RemoteAddr }
func (q request) Value(key any) any {
	if name, ok := key.(string); ok {
		if v := q.r.Context().Value(ContextKey(name)); v != nil {
			return v
		}
	}
	return q.r.Context().Value(key)
}

// exchange is the per-request context the options see.
type exchange struct {
	w http.ResponseWriter
	r *http.Request
}

// Option configures the middleware.
type Option = halt.MiddlewareOption[exchange]

// WithSkip skips the limiter (no check, no headers) for requests where fn
// returns true. A nil fn skips nothing.
func WithSkip(fn func(r *http.Request) bool) Option {
	if fn == nil {
		return nil // NewMiddleware ignores nil options
	}
	return halt.MiddlewareSkip(func(x exchange) bool { return fn(x.r) })
}

// WithCost sets a per-request cost; a result of zero or less means the
// policy's cost. A nil fn keeps the policy's cost.
func WithCost(fn func(r *http.Request) int64) Option {
	if fn == nil {
		return nil
	}
	return halt.MiddlewareCost(func(x exchange) int64 { return fn(x.r) })
}

// WithDenyHandler replaces the default JSON 429 writer. The rate-limit
// headers, Retry-After and Cache-Control are already set on w. A nil fn
// keeps the default.
func WithDenyHandler(fn func(w http.ResponseWriter, r *http.Request, d halt.Decision)) Option {
	if fn == nil {
		return nil
	}
	return halt.MiddlewareDeny(func(x exchange, d halt.Decision) error { fn(x.w, x.r, d); return nil })
}

// WithHeaderStyle overrides the limiter's header style.
func WithHeaderStyle(s halt.HeaderStyle) Option { return halt.MiddlewareHeaderStyle[exchange](s) }

// Middleware returns net/http middleware that rate-limits with l. Apply it
// to a whole server, or to single handlers for per-route limits; stacked
// limiters report the most restrictive decision in the headers. It panics
// if l is nil.
func Middleware(l *halt.Limiter, opts ...Option) func(http.Handler) http.Handler {
	m := halt.NewMiddleware(l, opts...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			x := exchange{w: w, r: r}
			d, ok := m.Handle(x, request{r}, halt.HTTPHeaders(w.Header()))
			if ok {
				next.ServeHTTP(w, r)
				return
			}
			_ = m.Reject(x, d, func(status int, body []byte) error {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				_, err := w.Write(body)
				return err
			})
		})
	}
}
