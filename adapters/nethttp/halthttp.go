// Package halthttp is Halt's net/http adapter: rate-limiting middleware of
// the standard shape func(http.Handler) http.Handler, for a whole server or
// one route of an http.ServeMux, and [Check] for a cost known only inside a
// handler.
//
// # Example
//
//	l, err := halt.New(memory.New(nil), presets.PublicAPI())
//	if err != nil { log.Fatal(err) }
//	mux := http.NewServeMux()
//	mux.Handle("POST /auth/login", halthttp.Middleware(authLimiter)(login))
//	log.Fatal(http.ListenAndServe(":8080", halthttp.Middleware(l)(mux)))
//
// # Routes
//
// [halt.Request.Route] (for policies with PerRoute) is the pattern the
// request matched, without its method and host: "/items/{id}" for
// "GET /items/{id}". Inside a ServeMux (route-level middleware, handlers)
// it is the request's Pattern; middleware that wraps a ServeMux (or any
// handler with ServeMux's Handler method) asks the mux which pattern the
// request will match.
package halthttp

import (
	"context"
	"net/http"
	"strings"
	"sync"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/adapter"
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

// Router is what a wrapped handler implements when it can tell the pattern
// a request will match, as *http.ServeMux does.
type Router interface {
	Handler(r *http.Request) (h http.Handler, pattern string)
}

// Request returns the halt.Request view of r, for calling the limiter's
// methods ([halt.Limiter.Check], Peek, Reset) from a handler.
func Request(r *http.Request) halt.Request { return &exchange{r: r} }

// exchange is one request as the limiter sees it: the halt.Request over
// r and the response headers. The middleware and Check take their
// exchanges from a pool: nothing keeps one past the request (the limiter
// keeps a Request only in a Reservation, and Reserve allocates its own),
// and no header value points into it.
type exchange struct {
	adapter.HTTPHeaderWriter
	w   http.ResponseWriter
	r   *http.Request
	mux Router // the handler the middleware wraps, when it routes
}

var (
	_ halt.Request         = (*exchange)(nil)
	_ halt.ResponseHeaders = (*exchange)(nil)
)

func (x *exchange) Context() context.Context { return x.r.Context() }
func (x *exchange) Method() string           { return x.r.Method }
func (x *exchange) Path() string             { return x.r.URL.Path }

// Header and HeaderValues read the request's headers, not the response's.
// Core passes canonical names, so HeaderValues skips canonicalization.
func (x *exchange) Header(name string) string         { return x.r.Header.Get(name) }
func (x *exchange) HeaderValues(name string) []string { return x.r.Header[name] }
func (x *exchange) RemoteAddr() string                { return x.r.RemoteAddr }

// Route returns the pattern r matched (see the package doc).
func (x *exchange) Route() string {
	pat := x.r.Pattern
	if pat == "" && x.mux != nil {
		_, pat = x.mux.Handler(x.r)
	}
	return PatternPath(pat)
}

// Value reads the request's context: ContextKey(name) for string names,
// then key itself.
func (x *exchange) Value(key any) any {
	if name, ok := key.(string); ok {
		if v := x.r.Context().Value(ContextKey(name)); v != nil {
			return v
		}
	}
	return x.r.Context().Value(key)
}

// PatternPath returns the path of a ServeMux pattern, without its method
// and host: "/items/{id}" for "GET example.com/items/{id}".
func PatternPath(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		return pattern[i:]
	}
	return pattern
}

// Option configures the middleware.
type Option = adapter.Option[*exchange]

// WithSkip skips the limiter (no check, no headers) for requests where fn
// returns true. A nil fn skips nothing.
func WithSkip(fn func(r *http.Request) bool) Option {
	if fn == nil {
		return nil // adapter.New ignores nil options
	}
	return adapter.Skip(func(x *exchange) bool { return fn(x.r) })
}

// WithCost sets a per-request cost; a result of zero or less means the
// policy's cost. A nil fn keeps the policy's cost.
func WithCost(fn func(r *http.Request) int64) Option {
	if fn == nil {
		return nil
	}
	return adapter.Cost(func(x *exchange) int64 { return fn(x.r) })
}

// WithDenyHandler replaces the default JSON rejection writer. The
// rate-limit headers, Retry-After and Cache-Control are already set on w.
// A nil fn keeps the default.
func WithDenyHandler(fn func(w http.ResponseWriter, r *http.Request, d halt.Decision)) Option {
	if fn == nil {
		return nil
	}
	return adapter.Deny(func(x *exchange, d halt.Decision) error { fn(x.w, x.r, d); return nil })
}

// WithStatusEndpoint makes the middleware answer GET path itself, before
// any check, with the caller's standing under limiters as JSON, like
// GitHub's GET /rate_limit; it is never counted and never limited:
//
//	{"policies":[{"name":"public_api","limit":100,"remaining":97,"reset":2},...]}
//
// Give it to the outermost Halt middleware.
func WithStatusEndpoint(path string, limiters ...*halt.Limiter) Option {
	return adapter.StatusEndpoint[*exchange](path, limiters...)
}

// Middleware returns net/http middleware that rate-limits with l. Apply it
// to a whole server, or to single handlers for per-route limits. Stacked
// limiters report the most restrictive decision in the headers, and never
// charge a refused request: when a later limiter (or [Check]) rejects it,
// each earlier one gives back what it took once the chain returns (they
// find each other through the request's http.ResponseWriter, which costs
// no allocation; haltchi shares the mechanism, so the two can be mixed).
// The
// header style is the limiter's ([halt.WithHeaderStyle]). It panics if l is
// nil.
func Middleware(l *halt.Limiter, opts ...Option) func(http.Handler) http.Handler {
	m := adapter.New(l, opts...)
	return func(next http.Handler) http.Handler {
		mux, _ := next.(Router)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			x := exchanges.Get().(*exchange)
			x.w, x.r, x.mux = w, r, mux
			x.Init(w.Header())
			serve(m, x, next)
			// Not reached when the chain panics: the panic may still
			// reach code that holds x, so x is left to the collector.
			x.release()
		})
	}
}

// serve is the middleware for one request: the status endpoint, the
// check, then next, giving back what was taken when a later limiter
// refuses the request.
func serve(m *adapter.Middleware[*exchange], x *exchange, next http.Handler) {
	w, r := x.w, x.r
	if status, body, ok := m.Status(x, x); ok {
		_ = write(w)(status, body)
		return
	}
	var d halt.Decision
	ok := m.HandleInto(x, x, x, &d)
	if !ok {
		adapter.Refuse(adapter.Identity(w))
		_ = m.Reject(x, d, write(w))
		return
	}
	if d.NeedsFinish() {
		serveFinishing(m.Limiter(), x, next, d)
		return
	}
	if !d.Counted() {
		next.ServeHTTP(w, r) // took nothing: nothing to give back
		return
	}
	e := adapter.Enter(adapter.Identity(w))
	// Deferred, so that a handler that panics (http.ErrAbortHandler)
	// leaves the request's stack all the same.
	defer func() {
		if e.Leave() { // a later limiter refused it: give back what this one took
			_ = m.Limiter().Undo(r.Context(), x, &d)
		}
	}()
	next.ServeHTTP(w, r)
}

// exchanges recycles the middleware's exchanges.
var exchanges = sync.Pool{New: func() any { return new(exchange) }}

// release returns x to the pool, keeping no reference to its request.
func (x *exchange) release() {
	*x = exchange{}
	exchanges.Put(x)
}

// serveFinishing serves a request whose decision needs a finish (an
// in-flight lease, a policy that counts by outcome): the status is
// recorded, and once the handler returns, or panics (a 500), the lease is
// released and what does not count is given back; the panic goes on.
func serveFinishing(l *halt.Limiter, x *exchange, next http.Handler, d halt.Decision) {
	rec := adapter.NewStatusRecorder(x.w)
	var e adapter.Entry
	if d.Counted() {
		e = adapter.Enter(adapter.Identity(x.w))
	}
	defer func() {
		p := recover()
		status := rec.Status()
		if p != nil {
			status = http.StatusInternalServerError
		}
		if d.Counted() && e.Leave() {
			_ = l.Undo(x.r.Context(), x, &d)
		}
		adapter.Finish(l, x, &d, status)
		if p != nil {
			panic(p)
		}
	}()
	next.ServeHTTP(rec, x.r)
}

// Check is the middleware's check for a handler that knows the request's
// cost only once it runs (an LLM prompt's length, rows to export): it
// checks r with l at cost (zero or less: the policy's cost), writes the
// rate-limit headers, and on a rejection writes the 429 (or other
// rejection) exactly as the middleware does; a rejection gives back what
// the Halt middleware before it took for the request. It reports whether
// the handler should go on:
//
//	if !halthttp.Check(w, r, limiter, cost) {
//		return
//	}
func Check(w http.ResponseWriter, r *http.Request, l *halt.Limiter, cost int64) bool {
	x := exchanges.Get().(*exchange)
	x.w, x.r = w, r
	x.Init(w.Header())
	d, ok := adapter.Decide(l, x, x, cost)
	if !ok {
		adapter.Refuse(adapter.Identity(w))
		_ = adapter.Reject(l, d, write(w))
	}
	x.release() // not reached on a panic, as in the middleware
	return ok
}

// Reserve is Check for a handler that knows only an estimate of the cost
// up front (an LLM call's tokens, rows to export): it checks r with l at
// estimate, writes the headers, and on a rejection writes it and returns
// false. Otherwise the handler settles the real cost once known, up (the
// client's budget may go into debt) or down (the difference is given
// back):
//
//	res, ok := halthttp.Reserve(w, r, limiter, 500)
//	if !ok {
//		return
//	}
//	used := generate(w, r)
//	_ = res.Settle(used)
func Reserve(w http.ResponseWriter, r *http.Request, l *halt.Limiter, estimate int64) (*halt.Reservation, bool) {
	x := &exchange{w: w, r: r}
	x.Init(w.Header())
	d, ok := adapter.Decide(l, x, x, estimate)
	if !ok {
		adapter.Refuse(adapter.Identity(w))
		_ = adapter.Reject(l, d, write(w))
		return nil, false
	}
	return halt.NewReservation(l, x, d), true
}

func write(w http.ResponseWriter) func(status int, body []byte) error {
	return func(status int, body []byte) error {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, err := w.Write(body)
		return err
	}
}
