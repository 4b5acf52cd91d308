package haltchi

import (
	"context"
	"net/http"
	"strings"
	"sync"

	"github.com/go-chi/chi/v5"
	halthttp "github.com/halt-go/halt/adapters/nethttp"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/adapter"
)

// request is the halt.Request view of r, with chi's route pattern. It is
// the net/http adapter's but for Route: inside chi, r.Pattern is the mount
// ("/api/*") in a subrouter's r.Use middleware and "" in the root's, where
// RoutePattern asks the router. Holding one pointer, it is stored in an
// interface without an allocation of its own.
type request struct{ r *http.Request }

var _ halt.Request = request{}

func (q request) Context() context.Context { return q.r.Context() }
func (q request) Method() string           { return q.r.Method }
func (q request) Path() string             { return q.r.URL.Path }

// Route returns [RoutePattern] of the request.
func (q request) Route() string { return RoutePattern(q.r) }

// Header and HeaderValues read the request's headers. Core passes
// canonical names, so HeaderValues skips canonicalization.
func (q request) Header(name string) string         { return q.r.Header.Get(name) }
func (q request) HeaderValues(name string) []string { return q.r.Header[name] }
func (q request) RemoteAddr() string                { return q.r.RemoteAddr }

// Value reads the request's context as the net/http adapter does:
// halthttp.ContextKey(name) for string names (what [WithUser] sets), then
// key itself.
func (q request) Value(key any) any {
	if name, ok := key.(string); ok {
		if v := q.r.Context().Value(halthttp.ContextKey(name)); v != nil {
			return v
		}
	}
	return q.r.Context().Value(key)
}

// exchange is the per-request value the options see, passed by value.
type exchange struct {
	w http.ResponseWriter
	r *http.Request
}

// giveBack returns what d took to l. It takes d by value so that the
// middleware's own copy never escapes; a refund that fails leaves the
// request counted, which never over-admits.
func giveBack(l *halt.Limiter, q request, d halt.Decision) {
	_ = l.Undo(q.r.Context(), q, &d)
}

// Option configures the middleware.
type Option = adapter.Option[exchange]

// WithSkip skips the limiter (no check, no headers) for requests where fn
// returns true. A nil fn skips nothing.
func WithSkip(fn func(r *http.Request) bool) Option {
	if fn == nil {
		return nil // adapter.New ignores nil options
	}
	return adapter.Skip(func(x exchange) bool { return fn(x.r) })
}

// WithCost sets a per-request cost; zero or less means the policy's cost.
// A nil fn keeps the policy's cost.
func WithCost(fn func(r *http.Request) int64) Option {
	if fn == nil {
		return nil
	}
	return adapter.Cost(func(x exchange) int64 { return fn(x.r) })
}

// WithDenyHandler replaces the default JSON rejection writer; the
// rate-limit headers, Retry-After and Cache-Control are already set on w.
// A nil fn keeps the default.
func WithDenyHandler(fn func(w http.ResponseWriter, r *http.Request, d halt.Decision)) Option {
	if fn == nil {
		return nil
	}
	return adapter.Deny(func(x exchange, d halt.Decision) error { fn(x.w, x.r, d); return nil })
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
	return adapter.StatusEndpoint[exchange](path, limiters...)
}

// Middleware returns chi middleware that rate-limits with l, for r.Use,
// r.With and r.Group. Stacked limiters report the most restrictive
// decision in the headers, and never charge a refused request: when a
// later limiter (or [Check]) rejects it, each earlier one gives back what
// it took once the chain returns (they find each other through the
// request's http.ResponseWriter, at no allocation, as halthttp's do: the
// two can be mixed). The header style is the
// limiter's ([halt.WithHeaderStyle]). It panics if l is nil.
func Middleware(l *halt.Limiter, opts ...Option) func(http.Handler) http.Handler {
	m := adapter.New(l, opts...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q, s := request{r}, adapter.HTTPHeaders(w.Header())
			if status, body, ok := m.Status(q, s); ok {
				_ = write(w)(status, body)
				return
			}
			var d halt.Decision
			ok := m.HandleInto(exchange{w: w, r: r}, q, s, &d)
			if !ok {
				adapter.Refuse(adapter.Identity(w))
				_ = m.Reject(exchange{w: w, r: r}, d, write(w))
				return
			}
			if d.NeedsFinish() {
				serveFinishing(l, q, w, next, d)
				return
			}
			if !d.Counted() {
				next.ServeHTTP(w, r) // took nothing: nothing to give back
				return
			}
			serveCounted(l, q, w, next, d)
		})
	}
}

// serveCounted serves a request l counted, entered in the request's
// stack, and gives back what l took when a later limiter refused it. The
// stack is left in a deferred call, so that a handler that panics
// (http.ErrAbortHandler) leaves it all the same.
func serveCounted(l *halt.Limiter, q request, w http.ResponseWriter, next http.Handler, d halt.Decision) {
	e := adapter.Enter(adapter.Identity(w))
	defer func() {
		if e.Leave() { // a later limiter refused it
			giveBack(l, q, d)
		}
	}()
	next.ServeHTTP(w, q.r)
}

// Check is the middleware's check for a handler that knows the request's
// cost only once it runs (an LLM prompt's length, rows to export): it
// checks r with l at cost (zero or less: the policy's cost), writes the
// rate-limit headers, and on a rejection writes the 429 (or other
// rejection) exactly as the middleware does; the Halt middleware before it
// then gives back what it took for the request. It reports whether the
// handler should go on:
//
//	r.Post("/generate", func(w http.ResponseWriter, r *http.Request) {
//		if !haltchi.Check(w, r, limiter, promptCost(r)) {
//			return
//		}
//		// ...
//	})
//
// It is [halthttp.Check] with chi's route pattern for PerRoute policies,
// giving back through the Halt middleware before it (haltchi's or halthttp's).
func Check(w http.ResponseWriter, r *http.Request, l *halt.Limiter, cost int64) bool {
	d, ok := adapter.Decide(l, request{r}, adapter.HTTPHeaders(w.Header()), cost)
	if !ok {
		adapter.Refuse(adapter.Identity(w))
		_ = adapter.Reject(l, d, write(w))
	}
	return ok
}

// Reserve is Check for a handler that knows only an estimate of the cost
// up front: on a rejection it writes it and returns false; otherwise the
// handler settles the real cost once known ([halt.Reservation.Settle]),
// up into debt or down with a refund:
//
//	res, ok := haltchi.Reserve(w, r, limiter, 500)
//	if !ok {
//		return
//	}
//	_ = res.Settle(generate(w, r))
func Reserve(w http.ResponseWriter, r *http.Request, l *halt.Limiter, estimate int64) (*halt.Reservation, bool) {
	q := request{r}
	d, ok := adapter.Decide(l, q, adapter.HTTPHeaders(w.Header()), estimate)
	if !ok {
		adapter.Refuse(adapter.Identity(w))
		_ = adapter.Reject(l, d, write(w))
		return nil, false
	}
	return halt.NewReservation(l, q, d), true
}

// serveFinishing serves a request whose decision needs a finish (an
// in-flight lease, a policy that counts by outcome): the status is
// recorded, and once the handler returns, or panics (a 500), the lease is
// released and what does not count is given back; the panic goes on.
func serveFinishing(l *halt.Limiter, q request, w http.ResponseWriter, next http.Handler, d halt.Decision) {
	rec := adapter.NewStatusRecorder(w)
	var e adapter.Entry
	if d.Counted() {
		e = adapter.Enter(adapter.Identity(w))
	}
	defer func() {
		p := recover()
		status := rec.Status()
		if p != nil {
			status = http.StatusInternalServerError
		}
		if d.Counted() && e.Leave() {
			_ = l.Undo(q.Context(), q, &d)
		}
		adapter.Finish(l, q, &d, status)
		if p != nil {
			panic(p)
		}
	}()
	next.ServeHTTP(rec, q.r)
}

func write(w http.ResponseWriter) func(status int, body []byte) error {
	return func(status int, body []byte) error {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, err := w.Write(body)
		return err
	}
}

// WithUser returns r carrying id as the authenticated user for the user and
// composite strategies; call it in an authentication middleware that runs
// before Halt's.
func WithUser(r *http.Request, id any) *http.Request { return halthttp.WithUser(r, id) }

// Request returns the halt.Request view of r, for calling the limiter's
// methods ([halt.Limiter.Check], Peek, Reset) from a handler or
// middleware. Its Route is [RoutePattern].
func Request(r *http.Request) halt.Request { return request{r} }

// RoutePattern returns the chi route pattern r is (or will be) routed to,
// as chi's RouteContext.RoutePattern reports it in the handler, such as
// "/items/{id}" or "/api/v1/users/{id}"; "" when no route matches or r is
// not served by chi. It may be called from middleware at any level (see
// the package doc). A path rewritten by router-level middleware such as
// middleware.StripSlashes is honoured, except in the middleware of a
// mounted subrouter (r.Route, r.Mount), which looks the request's URL path
// up.
func RoutePattern(r *http.Request) string {
	rctx := chi.RouteContext(r.Context())
	if rctx == nil {
		return ""
	}
	if n := len(rctx.RoutePatterns); n > 0 && !strings.HasSuffix(rctx.RoutePatterns[n-1], "*") {
		// Routed: route-level middleware or the handler. chi set r.Pattern
		// to the same pattern as it routed; rebuild it if something cleared it.
		if r.Pattern != "" {
			return r.Pattern
		}
		return rctx.RoutePattern()
	}
	if rctx.Routes == nil {
		return ""
	}
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	if len(rctx.RoutePatterns) == 0 && rctx.RoutePath != "" {
		path = rctx.RoutePath // rewritten by router-level middleware (StripSlashes...)
	}
	// Not routed yet (r.Use), or inside a mount: ask the root router.
	fc := findContexts.Get().(*chi.Context)
	defer findContexts.Put(fc)
	fc.Reset()
	if rctx.Routes.Find(fc, r.Method, path) == "" {
		return ""
	}
	return fc.RoutePattern()
}

var findContexts = sync.Pool{New: func() any { return chi.NewRouteContext() }}

// RoutePatternKey is a [halt.Policy] KeyFunc (with halt.KeyCustom) keying
// by the route pattern alone: every client shares one budget per route, a
// cap on what an endpoint serves in total. Requests no route matches have
// no key (see halt.WithMissingKey). For one budget per route and client,
// set PerRoute on the policy instead.
func RoutePatternKey(req halt.Request) (string, bool) {
	p := req.Route()
	return p, p != ""
}
