package adapter

import (
	"context"

	halt "github.com/halt-go/halt/core"
)

// Ledger records what the Halt middleware and handler-level checks of one
// request took, so that when a later limiter rejects the request, what the
// earlier ones took for it is given back ([halt.Limiter.Undo]): stacked
// limiters (a global one, then a stricter one on a route) never charge a
// request that was refused. Adapters keep one Ledger per request in the
// framework's per-request storage (the context for net/http, c.Set for gin
// and echo, c.Locals for fiber) and pass it to [Middleware.HandleWith] and
// [DecideWith]. The zero value is ready; a Ledger serves one request and is
// not safe for concurrent use (a request's middleware runs in turn).
type Ledger struct {
	n     int
	first [2]entry
	more  []entry
}

type entry struct {
	l *halt.Limiter
	d halt.Decision
}

// record remembers an admission by l.
func (g *Ledger) record(l *halt.Limiter, d *halt.Decision) {
	if g.n < len(g.first) {
		g.first[g.n] = entry{l: l, d: *d}
	} else {
		g.more = append(g.more, entry{l: l, d: *d})
	}
	g.n++
}

// undo gives back, latest first, what every recorded admission took, and
// forgets them. Errors went to nobody: a refund that fails leaves the
// request counted, which never over-admits.
func (g *Ledger) undo(ctx context.Context, req halt.Request) {
	for i := g.n - 1; i >= 0; i-- {
		var e *entry
		if i < len(g.first) {
			e = &g.first[i]
		} else {
			e = &g.more[i-len(g.first)]
		}
		_ = e.l.Undo(ctx, req, &e.d)
	}
	g.n, g.more = 0, g.more[:0]
}

// HandleWith is Handle for a request whose Ledger is g (nil: none): an
// admission is recorded in g, and a rejection gives back what g recorded
// for the request before it.
func (m *Middleware[C]) HandleWith(c C, req halt.Request, h halt.ResponseHeaders, g *Ledger) (halt.Decision, bool) {
	if m.skip != nil && m.skip(c) {
		return halt.Decision{Allowed: true, Reason: halt.ReasonSkipped}, true
	}
	var cost int64
	if m.cost != nil {
		cost = m.cost(c)
	}
	return DecideWith(m.l, req, h, cost, g)
}

// DecideWith is Decide for a request whose Ledger is g (nil: none).
func DecideWith(l *halt.Limiter, req halt.Request, h halt.ResponseHeaders, cost int64, g *Ledger) (halt.Decision, bool) {
	d, ok := Decide(l, req, h, cost)
	if g != nil {
		if ok {
			if d.Reason == halt.ReasonAllowed {
				g.record(l, &d)
			}
		} else if g.n > 0 {
			g.undo(req.Context(), req)
		}
	}
	return d, ok
}
