package halt

// Middleware is the framework-neutral engine behind every adapter: options,
// the check, headers and the rejection, written once. C is the adapter's
// per-request context (*gin.Context, echo.Context, *fiber.Ctx, or an
// adapter's own type for net/http). Adapters only translate; users use the
// adapters' Middleware functions, not this type.
type Middleware[C any] struct {
	l     *Limiter
	skip  func(C) bool
	cost  func(C) int64
	deny  func(C, Decision) error
	style HeaderStyle
}

// MiddlewareOption configures a Middleware. Adapters wrap these in their
// own With… functions.
type MiddlewareOption[C any] interface {
	applyMiddleware(*Middleware[C])
}

type middlewareOption[C any] func(*Middleware[C])

func (f middlewareOption[C]) applyMiddleware(m *Middleware[C]) { f(m) }

// MiddlewareSkip skips the limiter (no check, no headers) for requests
// where fn returns true. A nil fn skips nothing.
func MiddlewareSkip[C any](fn func(C) bool) MiddlewareOption[C] {
	return middlewareOption[C](func(m *Middleware[C]) { m.skip = fn })
}

// MiddlewareCost sets a per-request cost function. A result of zero or
// less means the policy's cost. A nil fn keeps the policy's cost.
func MiddlewareCost[C any](fn func(C) int64) MiddlewareOption[C] {
	return middlewareOption[C](func(m *Middleware[C]) { m.cost = fn })
}

// MiddlewareDeny replaces the writer of rejected responses. It runs after
// the rate-limit headers, Retry-After and Cache-Control are set. A nil fn
// keeps the default JSON 429.
func MiddlewareDeny[C any](fn func(C, Decision) error) MiddlewareOption[C] {
	return middlewareOption[C](func(m *Middleware[C]) { m.deny = fn })
}

// MiddlewareHeaderStyle overrides the limiter's header style for this
// middleware. A nil style keeps the limiter's.
func MiddlewareHeaderStyle[C any](s HeaderStyle) MiddlewareOption[C] {
	return middlewareOption[C](func(m *Middleware[C]) {
		if s != nil {
			m.style = s
		}
	})
}

// NewMiddleware builds the engine. It panics if l is nil: a middleware
// without a limiter is a programming error caught at startup.
func NewMiddleware[C any](l *Limiter, opts ...MiddlewareOption[C]) *Middleware[C] {
	if l == nil {
		panic("halt: Middleware needs a non-nil *halt.Limiter")
	}
	m := &Middleware[C]{l: l, style: l.style}
	for _, o := range opts {
		if o != nil {
			o.applyMiddleware(m)
		}
	}
	return m
}

// Limiter returns the engine's limiter.
func (m *Middleware[C]) Limiter() *Limiter { return m.l }

// Handle checks one request, writes the rate-limit headers to h, and
// reports whether the request may proceed. When it may not, Retry-After and
// Cache-Control: no-store are set too and the adapter must call Reject.
// Exempt, skipped and failed-open requests proceed without headers.
func (m *Middleware[C]) Handle(c C, req Request, h ResponseHeaders) (Decision, bool) {
	if m.skip != nil && m.skip(c) {
		return Decision{Allowed: true, Reason: ReasonSkipped}, true
	}
	var cost int64
	if m.cost != nil {
		cost = m.cost(c)
	}
	d, _ := m.l.check(req.Context(), req, cost, nil) // errors went to telemetry
	if d.Allowed {
		if d.Reason != ReasonExempt && d.Reason != ReasonSkipped && d.Reason != ReasonStoreError {
			m.style.Write(h, d)
		}
		return d, true
	}
	if d.Reason != ReasonStoreError {
		m.style.Write(h, d)
	}
	h.Set("Retry-After", itoa(d.RetrySeconds()))
	h.Set("Cache-Control", "no-store")
	return d, false
}

// Reject writes the rejection of d: the custom deny handler if one is set,
// otherwise write(status, body) with the JSON body of [Limiter.Rejection];
// the adapter's write must send Content-Type: application/json.
func (m *Middleware[C]) Reject(c C, d Decision, write func(status int, body []byte) error) error {
	if m.deny != nil {
		return m.deny(c, d)
	}
	status, body := m.l.Rejection(&d)
	return write(status, body)
}
