package haltfiber

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/adapter"
)

// request is the halt.Request view of a fiber context. The strings it
// returns point into fasthttp's buffers (or its own) and are valid only
// during the handler, which is all the limiter needs (see the package doc).
// Its scratch space spares HeaderValues and RemoteAddr allocations of
// their own: a request costs one allocation.
type request struct {
	c     *fiber.Ctx
	lines [2]string // HeaderValues of up to two field lines
	addr  [48]byte  // RemoteAddr of a TCP peer
}

var _ halt.PeerAddrRequest = (*request)(nil)

// requests pools the middleware's request views. A view is used only
// while the middleware runs: the limiter copies what it keeps (the key),
// and fasthttp copies the header values written, so once the chain has
// returned the view is reused, and the middleware allocates nothing per
// request. (A view a panic passes through is left to the collector.)
var requests = sync.Pool{New: func() any { return new(request) }}

// newRequest returns a pooled view of c.
func newRequest(c *fiber.Ctx) *request {
	q := requests.Get().(*request)
	q.c = c
	return q
}

// release returns q to the pool, holding nothing of its request.
func (q *request) release() {
	*q = request{}
	requests.Put(q)
}

// Context returns fiber's user context (c.UserContext).
func (q *request) Context() context.Context { return q.c.UserContext() }

// Method returns the request method.
func (q *request) Method() string { return q.c.Method() }

// Path returns c.Path(): the path fiber routes on (unescaped only with
// fiber.Config.UnescapePath), so exemptions see what the router sees.
func (q *request) Path() string { return q.c.Path() }

// Route returns the pattern of the route the request matched ("/items/:id"),
// or "" when none does: c.Route().Path in a route's own handlers, and the
// route the request will reach in middleware added with app.Use or
// group.Use (see the package doc). It is worked out only when called.
func (q *request) Route() string { return routePattern(q.c) }

// Header returns the first value of the request header name.
func (q *request) Header(name string) string { return q.c.Get(name) }

// HeaderValues returns every field line of the request header name, so an
// X-Forwarded-For sent twice is read whole.
func (q *request) HeaderValues(name string) []string {
	raw := q.c.Request().Header.PeekAll(name)
	if len(raw) == 0 {
		return nil
	}
	vals := q.lines[:0]
	for _, b := range raw {
		vals = append(vals, utils.UnsafeString(b))
	}
	return vals
}

// RemoteAddr returns the raw peer address ("ip:port"); fiber's c.IP and
// its proxy settings are never consulted.
func (q *request) RemoteAddr() string {
	addr := q.c.Context().RemoteAddr()
	if tcp, ok := addr.(*net.TCPAddr); ok {
		ap := tcp.AddrPort() // IPv4 as ::ffff:a.b.c.d when the IP is 16 bytes long
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		return utils.UnsafeString(ap.AppendTo(q.addr[:0]))
	}
	return addr.String()
}

// PeerAddr returns the TCP peer's address as fasthttp holds it, without
// formatting it for RemoteAddr (see [halt.PeerAddrRequest]).
func (q *request) PeerAddr() (netip.Addr, bool) {
	if tcp, ok := q.c.Context().RemoteAddr().(*net.TCPAddr); ok {
		a, ok := netip.AddrFromSlice(tcp.IP)
		return a.Unmap(), ok
	}
	return netip.Addr{}, false
}

// Value reads c.Locals.
func (q *request) Value(key any) any { return q.c.Locals(key) }

// Request returns the halt.Request view of c, for calling the limiter's
// methods ([halt.Limiter.Check], Peek, Reset) from a handler.
func Request(c *fiber.Ctx) halt.Request { return &request{c: c} }

// response lets core write the rate-limit headers onto fiber's response;
// fasthttp copies every value it is given. Core passes canonical names, so
// Set skips fasthttp's name normalization.
type response fiber.Ctx

var (
	_ halt.ResponseHeaders = (*response)(nil)
	_ halt.IntHeaders      = (*response)(nil)
)

// Get returns the response header name. Names core asks for are
// canonical and not among those fasthttp keeps apart (Content-Type,
// Server, ...), so the header's own keys are scanned first: fasthttp's
// lookup normalises a copy of the name on every call, and most requests
// pass one limiter, whose headers are not there yet.
func (w *response) Get(name string) string {
	c := (*fiber.Ctx)(w)
	if !fasthttpSpecial(name) {
		found := false
		for _, k := range c.Response().Header.PeekKeys() {
			if string(k) == name {
				found = true
				break
			}
		}
		if !found {
			return ""
		}
	}
	return c.GetRespHeader(name)
}

// fasthttpSpecial reports the response headers fasthttp holds in fields of
// their own rather than among its keys.
func fasthttpSpecial(name string) bool {
	switch name {
	case fiber.HeaderContentType, fiber.HeaderContentEncoding, fiber.HeaderServer, fiber.HeaderSetCookie,
		fiber.HeaderContentLength, fiber.HeaderConnection, fiber.HeaderTransferEncoding, fiber.HeaderDate,
		fiber.HeaderTrailer:
		return true
	}
	return false
}
func (w *response) Set(name, value string) {
	(*fiber.Ctx)(w).Response().Header.SetCanonical(utils.UnsafeBytes(name), utils.UnsafeBytes(value))
}
func (w *response) Add(name, value string) { (*fiber.Ctx)(w).Response().Header.Add(name, value) }

// SetInt sets name to v's decimal form, formatted on the stack (fasthttp
// copies it).
func (w *response) SetInt(name string, v int64) {
	var buf [20]byte
	(*fiber.Ctx)(w).Response().Header.SetCanonical(utils.UnsafeBytes(name), strconv.AppendInt(buf[:0], v, 10))
}

// Option configures the middleware.
type Option = adapter.Option[*fiber.Ctx]

// WithNext skips the middleware (no check, no headers) when next returns
// true: the Next convention of fiber's own middleware. A nil next skips
// nothing.
func WithNext(next func(c *fiber.Ctx) bool) Option { return adapter.Skip(next) }

// WithSkip is [WithNext] under the name the other Halt adapters use.
func WithSkip(fn func(c *fiber.Ctx) bool) Option { return WithNext(fn) }

// WithCost sets a per-request cost; zero or less means the policy's cost.
// A nil fn keeps the policy's cost.
func WithCost(fn func(c *fiber.Ctx) int64) Option { return adapter.Cost(fn) }

// WithDenyHandler replaces the default JSON rejection writer. The
// rate-limit headers, Retry-After and Cache-Control are already set on the
// response; fn writes it, and its error goes to fiber's ErrorHandler. A
// nil fn keeps the default.
func WithDenyHandler(fn func(c *fiber.Ctx, d halt.Decision) error) Option {
	return adapter.Deny(fn)
}

// WithLimitReached is [WithDenyHandler] for a plain fiber.Handler, as the
// LimitReached field of fiber's limiter middleware. A nil h keeps the
// default.
func WithLimitReached(h fiber.Handler) Option {
	if h == nil {
		return nil
	}
	return WithDenyHandler(func(c *fiber.Ctx, _ halt.Decision) error { return h(c) })
}

// WithStatusEndpoint makes the middleware answer GET path itself, before
// any check, with the caller's standing under limiters as JSON, like
// GitHub's GET /rate_limit; it is never counted and never limited:
//
//	{"policies":[{"name":"public_api","limit":100,"remaining":97,"reset":2},...]}
//
// Give it to the outermost Halt middleware (app.Use runs for every path,
// so the path needs no route of its own).
func WithStatusEndpoint(path string, limiters ...*halt.Limiter) Option {
	return adapter.StatusEndpoint[*fiber.Ctx](path, limiters...)
}

// Middleware returns fiber middleware that rate-limits with l. Use it with
// app.Use, on a group, or before a route's handler for a per-route limit.
// Stacked limiters report the most restrictive decision in the headers,
// and never charge a refused request: when a later limiter (or [Check])
// rejects it, each earlier one gives back what it took once the chain
// returns. The header style is the limiter's ([halt.WithHeaderStyle]). It
// panics if l is nil.
func Middleware(l *halt.Limiter, opts ...Option) fiber.Handler {
	m := adapter.New(l, opts...)
	return func(c *fiber.Ctx) error {
		q, w := newRequest(c), (*response)(c)
		if status, body, ok := m.Status(q, w); ok {
			q.release()
			return w.write(status, body)
		}
		var d halt.Decision
		ok := m.HandleInto(c, q, w, &d)
		if !ok {
			q.release()
			c.Locals(refusedKey{}, true)
			return m.Reject(c, d, w.write)
		}
		if d.NeedsFinish() {
			return nextFinishing(c, l, q, d)
		}
		err := c.Next()
		if d.Reason == halt.ReasonAllowed && c.Locals(refusedKey{}) != nil {
			giveBack(l, q, d)
		}
		q.release()
		return err
	}
}

// nextFinishing runs the rest of the chain for a request whose decision
// needs a finish (an in-flight lease, a policy that counts by outcome):
// once it returns, or panics (a 500), the lease is released and what does
// not count is given back. The status is the one the chain's error will
// be answered with (a *fiber.Error's code, 500 for other errors), else
// the response's. The panic goes on to fiber's recover middleware.
func nextFinishing(c *fiber.Ctx, l *halt.Limiter, q *request, d halt.Decision) (err error) {
	defer func() {
		p := recover()
		status := c.Response().StatusCode()
		if err != nil {
			status = fiber.StatusInternalServerError
			var fe *fiber.Error
			if errors.As(err, &fe) {
				status = fe.Code
			}
		}
		if p != nil {
			status = fiber.StatusInternalServerError
		}
		if d.Reason == halt.ReasonAllowed && c.Locals(refusedKey{}) != nil {
			_ = l.Undo(q.Context(), q, &d)
		}
		adapter.Finish(l, q, &d, status)
		if p != nil {
			panic(p) // q is not reused: the panic may still reach code that holds it
		}
		q.release()
	}()
	return c.Next()
}

// Reserve is Check for a handler that knows only an estimate of the cost
// up front (an LLM call's tokens, rows to export): on a rejection it
// writes it and returns false with the write's error; otherwise the
// handler settles the real cost once known ([halt.Reservation.Settle]), up
// into debt or down with a refund:
//
//	res, ok, err := haltfiber.Reserve(c, limiter, 500)
//	if !ok {
//		return err
//	}
//	_ = res.Settle(generate(c))
func Reserve(c *fiber.Ctx, l *halt.Limiter, estimate int64) (*halt.Reservation, bool, error) {
	q := &request{c: c}
	d, ok := adapter.Decide(l, q, (*response)(c), estimate)
	if !ok {
		c.Locals(refusedKey{}, true)
		return nil, false, adapter.Reject(l, d, (*response)(c).write)
	}
	return halt.NewReservation(l, q, d), true, nil
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
//	app.Post("/generate", func(c *fiber.Ctx) error {
//		if ok, err := haltfiber.Check(c, limiter, promptCost(c)); !ok {
//			return err
//		}
//		// ...
//	})
func Check(c *fiber.Ctx, l *halt.Limiter, cost int64) (bool, error) {
	d, ok := adapter.Decide(l, &request{c: c}, (*response)(c), cost)
	if ok {
		return true, nil
	}
	c.Locals(refusedKey{}, true)
	return false, adapter.Reject(l, d, (*response)(c).write)
}

// refusedKey marks, in c.Locals, a request a Halt limiter refused. Only a
// rejection sets it; each earlier middleware reads it once the chain
// returns and gives back what it took.
type refusedKey struct{}

// giveBack returns what d took to l. It takes d by value so that the
// middleware's own copy never escapes; a refund that fails leaves the
// request counted, which never over-admits.
func giveBack(l *halt.Limiter, q *request, d halt.Decision) {
	_ = l.Undo(q.Context(), q, &d)
}

// write sends a default rejection.
func (w *response) write(status int, body []byte) error {
	c := (*fiber.Ctx)(w)
	c.Status(status).Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(body)
}
