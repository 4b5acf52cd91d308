package haltchi

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"

	"github.com/go-chi/chi/v5"
	halthttp "github.com/halt-go/halt/adapters/nethttp"
	halt "github.com/halt-go/halt/core"
)

// Option configures the middleware; it is the net/http adapter's option.
type Option = halthttp.Option

// WithSkip skips the limiter (no check, no headers) for requests where fn
// returns true. A nil fn skips nothing.
func WithSkip(fn func(r *http.Request) bool) Option { return halthttp.WithSkip(fn) }

// WithCost sets a per-request cost; zero or less means the policy's cost.
// A nil fn keeps the policy's cost.
func WithCost(fn func(r *http.Request) int64) Option { return halthttp.WithCost(fn) }

// WithDenyHandler replaces the default JSON 429 writer; the rate-limit
// headers, Retry-After and Cache-Control are already set on w. A nil fn
// keeps the default.
func WithDenyHandler(fn func(w http.ResponseWriter, r *http.Request, d halt.Decision)) Option {
	return halthttp.WithDenyHandler(fn)
}

// WithHeaderStyle overrides the limiter's header style.
func WithHeaderStyle(s halt.HeaderStyle) Option { return halthttp.WithHeaderStyle(s) }

// Middleware returns chi middleware that rate-limits with l, for r.Use,
// r.With and r.Group. It panics if l is nil.
func Middleware(l *halt.Limiter, opts ...Option) func(http.Handler) http.Handler {
	return halthttp.Middleware(l, opts...)
}

// WithUser returns r carrying id as the authenticated user for the user and
// composite strategies; call it in an authentication middleware that runs
// before Halt's.
func WithUser(r *http.Request, id any) *http.Request { return halthttp.WithUser(r, id) }

// Request returns the halt.Request view of r, for calling
// [halt.Limiter.Check] from a handler.
func Request(r *http.Request) halt.Request { return halthttp.Request(r) }

// RoutePattern returns the chi route pattern r is (or will be) routed to,
// as chi's RouteContext.RoutePattern reports it in the handler, such as
// "/items/{id}" or "/api/v1/users/{id}"; "" when no route matches or r is
// not served by chi. It may be called from middleware at any level (see
// the package doc). A path rewritten by router-level middleware such as
// middleware.StripSlashes is honoured, except in the middleware of a
// mounted subrouter (r.Route, r.Mount), which looks the request's URL path
// up.
func RoutePattern(r *http.Request) string {
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	return pattern(chi.RouteContext(r.Context()), r.Method, path)
}

var findContexts = sync.Pool{New: func() any { return chi.NewRouteContext() }}

func pattern(rctx *chi.Context, method, path string) string {
	if rctx == nil {
		return ""
	}
	if n := len(rctx.RoutePatterns); n > 0 && !strings.HasSuffix(rctx.RoutePatterns[n-1], "*") {
		return rctx.RoutePattern() // routed: route-level middleware or the handler
	}
	if rctx.Routes == nil {
		return ""
	}
	if len(rctx.RoutePatterns) == 0 && rctx.RoutePath != "" {
		path = rctx.RoutePath // rewritten by router-level middleware (StripSlashes...)
	}
	// Not routed yet (r.Use), or inside a mount: ask the root router.
	fc := findContexts.Get().(*chi.Context)
	defer findContexts.Put(fc)
	fc.Reset()
	if rctx.Routes.Find(fc, method, path) == "" {
		return ""
	}
	return fc.RoutePattern()
}

// requestPattern is RoutePattern for a halt.Request.
func requestPattern(req halt.Request) string {
	rctx, _ := req.Value(chi.RouteCtxKey).(*chi.Context)
	return pattern(rctx, req.Method(), req.Path())
}

// RoutePatternKey is a [halt.Policy] KeyFunc (with halt.KeyCustom) keying
// by the chi route pattern alone: every client shares one budget per route,
// a cap on what an endpoint serves in total. Requests no route matches
// have no key (see halt.WithMissingKey).
func RoutePatternKey(req halt.Request) (string, bool) {
	p := requestPattern(req)
	return p, p != ""
}

// KeyByRoutePattern returns a limiter option that counts every chi route
// pattern separately under p's own key strategy: a client that used up
// its budget on /items/{id} still has a full one on /search. Pass the same
// p to halt.New:
//
//	l, err := halt.New(store, p, haltchi.KeyByRoutePattern(p))
//
// Each route gets a policy named after p and the pattern ("public
// /items/(id)": braces become parentheses so they cannot act as a Redis
// Cluster hash tag; a name over 64 bytes ends in a hash of the pattern
// instead), which namespaces its counters and shows in the IETF headers.
// Requests no route matches count under p itself. It installs a policy
// resolver, so it replaces halt.WithPolicyResolver.
func KeyByRoutePattern(p halt.Policy) halt.Option {
	var names sync.Map // pattern -> policy name, one entry per route of the router
	return halt.WithPolicyResolver(func(req halt.Request) halt.Policy {
		pat := requestPattern(req)
		if pat == "" {
			return p
		}
		q := p
		if v, ok := names.Load(pat); ok {
			q.Name = v.(string)
			return q
		}
		q.Name = routePolicyName(p.Name, pat)
		names.Store(pat, q.Name)
		return q
	})
}

func routePolicyName(base, pat string) string {
	name := base + " " + strings.NewReplacer("{", "(", "}", ")").Replace(pat)
	if len(name) <= 64 && printable(name) {
		return name
	}
	sum := sha256.Sum256([]byte(base + " " + pat))
	return base[:min(len(base), 64-18)] + " #" + hex.EncodeToString(sum[:8])
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
