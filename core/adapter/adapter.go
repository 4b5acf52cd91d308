// Package adapter is what Halt's framework adapters are built from: the
// framework-neutral middleware engine (options, the check, headers and the
// rejection, written once) and a header writer for net/http-style headers.
// Applications never need it; they use an adapter's Middleware and Check
// functions (halthttp, haltchi, haltgin, haltecho, haltfiber). Write a new
// adapter by implementing [halt.Request] over the framework's context and
// calling [New], [Middleware.Handle] and [Middleware.Reject], or [Decide]
// and [Reject] for checks made inside a handler.
package adapter

import (
	"context"
	"net/http"
	"strconv"
	"unsafe"

	halt "github.com/halt-go/halt/core"
)

// Middleware is the engine behind every adapter's middleware. C is the
// adapter's per-request context (*gin.Context, echo.Context, *fiber.Ctx,
// or an adapter's own type for net/http).
type Middleware[C any] struct {
	l    *halt.Limiter
	skip func(C) bool
	cost func(C) int64
	deny func(C, halt.Decision) error

	statusPath string          // StatusEndpoint
	statusOf   []*halt.Limiter // the limiters it reports
}

// Option configures a Middleware. Adapters wrap these in their own With…
// functions.
type Option[C any] interface {
	apply(*Middleware[C])
}

type option[C any] func(*Middleware[C])

func (f option[C]) apply(m *Middleware[C]) { f(m) }

// Skip skips the limiter (no check, no headers) for requests where fn
// returns true. A nil fn skips nothing.
func Skip[C any](fn func(C) bool) Option[C] {
	return option[C](func(m *Middleware[C]) { m.skip = fn })
}

// Cost sets a per-request cost function. A result of zero or less means
// the policy's cost. A nil fn keeps the policy's cost.
func Cost[C any](fn func(C) int64) Option[C] {
	return option[C](func(m *Middleware[C]) { m.cost = fn })
}

// Deny replaces the writer of rejected responses. It runs after the
// rate-limit headers, Retry-After and Cache-Control are set. A nil fn keeps
// the default JSON rejection.
func Deny[C any](fn func(C, halt.Decision) error) Option[C] {
	return option[C](func(m *Middleware[C]) { m.deny = fn })
}

// StatusEndpoint makes the middleware answer GET path itself, before any
// check, with the caller's standing under limiters as JSON
// ([halt.StatusJSON]): like GitHub's GET /rate_limit, it is never counted
// and never limited. The adapter calls [Middleware.Status] first.
func StatusEndpoint[C any](path string, limiters ...*halt.Limiter) Option[C] {
	return option[C](func(m *Middleware[C]) {
		m.statusPath, m.statusOf = path, append([]*halt.Limiter(nil), limiters...)
	})
}

// Status reports whether req is a request for the status endpoint, and if
// so the response to send: 200 and the standing, or 503 and an error body
// when the store could not tell, both as JSON, with Cache-Control:
// no-store set on h.
func (m *Middleware[C]) Status(req halt.Request, h halt.ResponseHeaders) (status int, body []byte, ok bool) {
	if m.statusPath == "" || req.Path() != m.statusPath || (req.Method() != "GET" && req.Method() != "HEAD") {
		return 0, nil, false
	}
	setNoStore(h)
	body, err := halt.StatusJSON(req.Context(), req, m.statusOf...)
	if err != nil {
		return http.StatusServiceUnavailable, []byte(`{"error":"status_unavailable","message":"The rate-limit store could not be read. Please try again later."}`), true
	}
	return http.StatusOK, body, true
}

// New builds the engine. It panics if l is nil: a middleware without a
// limiter is a programming error caught at startup. Nil options are
// ignored.
func New[C any](l *halt.Limiter, opts ...Option[C]) *Middleware[C] {
	if l == nil {
		panic("halt: Middleware needs a non-nil *halt.Limiter")
	}
	m := &Middleware[C]{l: l}
	for _, o := range opts {
		if o != nil {
			o.apply(m)
		}
	}
	return m
}

// Limiter returns the engine's limiter.
func (m *Middleware[C]) Limiter() *halt.Limiter { return m.l }

// Handle checks one request, writes the rate-limit headers to h, and
// reports whether the request may proceed. When it may not, the adapter
// must call Reject. Exempt, skipped and failed-open requests proceed
// without headers.
func (m *Middleware[C]) Handle(c C, req halt.Request, h halt.ResponseHeaders) (halt.Decision, bool) {
	var d halt.Decision
	ok := m.HandleInto(c, req, h, &d)
	return d, ok
}

// HandleInto is Handle writing the decision to *d (which it overwrites):
// the middleware's hot path, without copying the decision on its way out.
// A nil d is allowed, as in DecideInto.
func (m *Middleware[C]) HandleInto(c C, req halt.Request, h halt.ResponseHeaders, d *halt.Decision) bool {
	if m.skip != nil && m.skip(c) {
		if d != nil {
			*d = halt.Decision{Allowed: true, Reason: halt.ReasonSkipped}
		}
		return true
	}
	var cost int64
	if m.cost != nil {
		cost = m.cost(c)
	}
	return DecideInto(m.l, req, h, cost, d)
}

// Reject writes the rejection of d: the custom deny handler if one is set,
// otherwise [Reject].
func (m *Middleware[C]) Reject(c C, d halt.Decision, write func(status int, body []byte) error) error {
	if m.deny != nil {
		return m.deny(c, d)
	}
	return Reject(m.l, d, write)
}

// Decide checks req with l at cost (zero or less: the policy's cost),
// writes the rate-limit headers to h and reports whether the request may
// proceed. On a rejection it also sets Retry-After (when a wait can help)
// and Cache-Control: no-store, and the caller must write the rejection
// ([Reject]). It is the middleware's check, for handlers that know the
// cost only once they run. Store errors went to the limiter's telemetry.
func Decide(l *halt.Limiter, req halt.Request, h halt.ResponseHeaders, cost int64) (halt.Decision, bool) {
	var d halt.Decision
	ok := DecideInto(l, req, h, cost, &d)
	return d, ok
}

// DecideInto is Decide writing the decision to *d (which it overwrites).
// A nil req is refused ([halt.ErrNilRequest]'s decision), nil headers are
// left unwritten, and a nil d decides all the same, rather than panicking.
func DecideInto(l *halt.Limiter, req halt.Request, h halt.ResponseHeaders, cost int64, d *halt.Decision) bool {
	if d == nil {
		var own halt.Decision
		d = &own
	}
	var ctx context.Context // nil: the limiter reads req's own, once it knows req is not nil
	_ = l.CheckCostInto(ctx, req, cost, d)
	if d.HasHeaders() {
		l.WriteHeaders(h, d)
	}
	if d.Allowed {
		return true
	}
	if h == nil {
		return false
	}
	if s := d.RetrySeconds(); s > 0 {
		halt.SetIntHeader(h, "Retry-After", s)
	}
	setNoStore(h)
	return false
}

// noStore is the Cache-Control value of rejections and status responses,
// shared by all of them: never written to.
var noStore = []string{"no-store"}

// setNoStore sets Cache-Control: no-store on h, without an allocation when
// h takes shared value slices.
func setNoStore(h halt.ResponseHeaders) {
	if sh, ok := h.(halt.SliceHeaders); ok {
		sh.SetSlice("Cache-Control", noStore)
		return
	}
	h.Set("Cache-Control", "no-store")
}

// Reject writes the default rejection of d through write: the status and
// JSON body of [halt.Limiter.Rejection]. The adapter's write must send
// Content-Type: application/json.
func Reject(l *halt.Limiter, d halt.Decision, write func(status int, body []byte) error) error {
	status, body := l.Rejection(&d)
	return write(status, body)
}

// HTTPHeaders adapts an http.Header to halt.ResponseHeaders: see
// [HTTPHeaderWriter]. It allocates nothing.
func HTTPHeaders(h http.Header) halt.ResponseHeaders {
	return HTTPHeaderWriter{h: h}
}

// HTTPHeaderWriter is what [HTTPHeaders] returns, as a type an adapter can
// also embed in a per-request struct of its own (call Init). It writes
// names as given (core passes canonical names) and keeps nothing but the
// map: a value or an interface holding one costs no allocation, and a
// struct embedding it can be reused for the next request, as halthttp
// reuses its own, since no header value points into it. The rate-limit
// headers cost no allocation either: core hands it shared value slices
// ([halt.SliceHeaders]) for numbers below 1024 and each policy's limit,
// and larger numbers take one each ([HTTPHeaderWriter.SetInt]).
type HTTPHeaderWriter struct {
	h http.Header
}

var (
	_ halt.IntHeaders   = HTTPHeaderWriter{}
	_ halt.SliceHeaders = HTTPHeaderWriter{}
)

// Init points the writer at h.
func (s *HTTPHeaderWriter) Init(h http.Header) { s.h = h }

// Get returns the first value of the response header name.
func (s HTTPHeaderWriter) Get(name string) string {
	if v := s.h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces the response header name with value.
func (s HTTPHeaderWriter) Set(name, value string) { s.h[name] = []string{value} }

// SetSlice replaces the response header name with vals, taken as they are
// ([halt.SliceHeaders]).
func (s HTTPHeaderWriter) SetSlice(name string, vals []string) { s.h[name] = vals }

// intValue holds a header value SetInt formats and the slice it is set as,
// so that the two cost one allocation.
type intValue struct {
	vals   [1]string
	digits [20]byte // any int64, sign included
}

// SetInt sets the response header name to v's decimal form, with one
// allocation for the string and its value slice together.
func (s HTTPHeaderWriter) SetInt(name string, v int64) {
	iv := new(intValue)
	b := strconv.AppendInt(iv.digits[:0], v, 10)
	iv.vals[0] = unsafe.String(&iv.digits[0], len(b))
	s.h[name] = iv.vals[:]
}

// Add appends value to the response header name.
func (s HTTPHeaderWriter) Add(name, value string) {
	s.h[name] = append(s.h[name], value)
}

// Finish completes d once the handler returned with status: see
// [halt.Limiter.Finish]. A give-back that fails leaves the request counted
// (never over-admitting) and a release that fails leaves the lease to
// expire, so the error is dropped here; the store reported it to the
// limiter's telemetry.
func Finish(l *halt.Limiter, req halt.Request, d *halt.Decision, status int) {
	_ = l.Finish(req.Context(), req, d, status)
}

// StatusRecorder is an http.ResponseWriter that remembers the status of
// the response it passes on, for counting by outcome in net/http-style
// adapters. Only requests whose decision needs a finish are wrapped.
// Unwrap gives http.ResponseController access to the writer beneath.
type StatusRecorder struct {
	http.ResponseWriter
	status int
}

// NewStatusRecorder wraps w.
func NewStatusRecorder(w http.ResponseWriter) *StatusRecorder {
	return &StatusRecorder{ResponseWriter: w}
}

// WriteHeader records the first final status and passes it on.
func (s *StatusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write passes b on; a body written without a status is a 200.
func (s *StatusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush flushes the writer beneath, when it can.
func (s *StatusRecorder) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap returns the writer beneath.
func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Status is the status sent: 200 when the handler wrote nothing.
func (s *StatusRecorder) Status() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// Identity is the writer a request's stack ([Enter], [Refuse]) is keyed
// by: w, or the writer beneath the StatusRecorders wrapping it, so stacked
// middleware find each other whether or not one of them records the
// status.
func Identity(w http.ResponseWriter) http.ResponseWriter {
	for {
		s, ok := w.(*StatusRecorder)
		if !ok {
			return w
		}
		w = s.ResponseWriter
	}
}
