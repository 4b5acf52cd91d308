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
			g.Record(l, &d)
		} else if g.n > 0 {
			g.undo(req.Context(), req)
		}
	}
	return d, ok
}

// Record remembers an admission by l in g: adapters that start a request's
// ledger after its first counted admission record that admission with it.
func (g *Ledger) Record(l *halt.Limiter, d *halt.Decision) {
	if d.Counted() {
		g.record(l, d)
	}
}

// LedgerContext is a request context carrying the request's Ledger, for
// adapters whose per-request storage is the request context (net/http,
// chi). Embed one in a per-request struct: it then costs no allocation of
// its own. Adapters sharing it (halthttp and haltchi) see one another's
// ledger.
type LedgerContext struct {
	context.Context
	ledger Ledger
}

type ledgerKey struct{}

// Start makes c a child of parent carrying a new ledger that holds l's
// admission d, and returns it, to pass on as the request's context.
func (c *LedgerContext) Start(parent context.Context, l *halt.Limiter, d *halt.Decision) context.Context {
	c.Context, c.ledger = parent, Ledger{}
	c.ledger.Record(l, d)
	return c
}

// Value returns the ledger for the ledger's key, else the parent's value.
func (c *LedgerContext) Value(key any) any {
	if key == (ledgerKey{}) {
		return &c.ledger
	}
	return c.Context.Value(key)
}

// LedgerFrom returns the ledger a LedgerContext in ctx carries, or nil.
func LedgerFrom(ctx context.Context) *Ledger {
	g, _ := ctx.Value(ledgerKey{}).(*Ledger)
	return g
}
