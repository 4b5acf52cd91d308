package halt

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Decision is the outcome of one check.
type Decision struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Reason says why.
	Reason Reason
	// Policy is the name of the policy that decided (for an exempt or
	// skipped request, the policy that would have).
	Policy string
	// Limit is the policy's limit per window (0 for exempt and skipped
	// requests).
	Limit int64
	// Window is the policy's window.
	Window time.Duration
	// Remaining is how many more requests of this cost would be allowed
	// right now; never negative. With a burst above the limit it can
	// exceed Limit.
	Remaining int64
	// ResetAfter is the time until the key is back to full capacity.
	ResetAfter time.Duration
	// RetryAfter is zero when allowed; when blocked, the earliest time after
	// which the same request would be allowed (zero when no wait helps: see
	// [ReasonCostExceedsCapacity] and [ReasonMissingKey]).
	RetryAfter time.Duration
	// At is the instant of the decision by the limiter's clock.
	At time.Time
	// Wait is how long the request waited for its token before it was
	// admitted (Policy.MaxWait); zero for requests admitted at once.
	Wait time.Duration

	// The unexported fields keep the size a multiple of 16 bytes (192): a
	// Decision is copied in 16-byte moves, and with an odd 8 bytes the
	// last move overlaps the one before, which a copy of a copy made just
	// before cannot read without a store-forwarding stall.

	cp     *compiled // rendering data of the policy that decided
	cost   int64     // the cost asked for (0: the policy's)
	taken  taker     // which store recorded the admission, if any
	finish bool      // Finish has something to do (NeedsFinish)
	// The other policy of a check that decided two (pair), in the padding.
	pairAllowed bool
	pairReason  Reason
	pairTaken   taker
	pairFirst   bool   // the other policy comes first in Policies
	sum         uint64 // a hash of the key it was recorded under, for Undo
	multi       *multi // the decision of every policy, for checks of more than two
	lease       *lease // the in-flight slot held, released by Finish
	pair        pair   // the other policy of a check that decided two
}

// pair is the record of the other policy of a check that decided two
// (multi.go): a Decision holds it inline, so such a check allocates
// nothing. Its Allowed, Reason and taken are the Decision's pair* fields;
// its Policy, Limit and Window are its compiled policy's, its At the
// Decision's.
type pair struct {
	cp                     *compiled // nil: none
	remaining              int64
	resetAfter, retryAfter time.Duration
	sum                    uint64
	cost                   int64
}

// Counted reports whether the decision was recorded in a store: the
// request was admitted by a store (or the fallback store), so [Limiter.Undo]
// has something to give back. Exempt, skipped, failed-open and rejected
// requests were not counted.
func (d *Decision) Counted() bool { return d.Allowed && d.taken != takenNone }

// keySeed hashes keys for Decision.sum.
var keySeed = maphash.MakeSeed()

func keySum(key []byte) uint64 { return maphash.Bytes(keySeed, key) }

// taker says which store recorded an admission, for Undo.
type taker uint8

const (
	takenNone taker = iota
	takenStore
	takenFallback
)

// multi is the decision of each policy of a check that decided more than
// two, or that admitted under a shadow policy (up to two enforcing
// policies and no shadow admission fit in the Decision: pair).
type multi struct {
	each   []Decision // the enforcing policies, in order
	shadow []Decision // the shadow policies decided (admitted requests only)
}

// Policies returns the decision of each policy the limiter enforces, in
// the order they were configured (the limiter's own first): one element
// for a limiter with one policy, none for an exempt or skipped request.
// The Decision itself is the most restrictive of them: the one that
// blocked, or the one closest to exhaustion.
func (d *Decision) Policies() []Decision {
	if d.multi != nil {
		return d.multi.each
	}
	var buf [2]Decision
	if rs := d.records(&buf); len(rs) > 0 {
		return append([]Decision(nil), rs...)
	}
	return nil
}

// records is the decision of each enforcing policy d records, in order:
// d.multi's, or built in buf from d and its pair, or d alone.
func (d *Decision) records(buf *[2]Decision) []Decision {
	switch {
	case d.multi != nil:
		return d.multi.each
	case d.pair.cp != nil:
		if d.pairFirst {
			buf[0], buf[1] = d.pairRecord(), d.mainRecord()
		} else {
			buf[0], buf[1] = d.mainRecord(), d.pairRecord()
		}
		return buf[:]
	case d.cp == nil:
		return nil
	}
	buf[0] = *d
	return buf[:1]
}

// mainRecord is d as the record of its own policy, without its pair.
func (d *Decision) mainRecord() Decision {
	r := *d
	r.pair, r.pairAllowed, r.pairReason, r.pairTaken, r.pairFirst = pair{}, false, 0, takenNone, false
	r.finish = false
	return r
}

// pairRecord is the Decision of d's pair.
func (d *Decision) pairRecord() Decision {
	p := &d.pair
	return Decision{Allowed: d.pairAllowed, Reason: d.pairReason, Policy: p.cp.Name, Limit: p.cp.Limit,
		Window: p.cp.Window, Remaining: p.remaining, ResetAfter: p.resetAfter, RetryAfter: p.retryAfter, At: d.At,
		cp: p.cp, cost: p.cost, taken: d.pairTaken, sum: p.sum}
}

// setPair records o, the decision of the other policy of a check that
// decided two, in d; first says o's policy was configured before d's.
// (Field by field: a struct with pointers written whole through a
// pointer is a call.)
func (d *Decision) setPair(o *Decision, first bool) {
	p := &d.pair
	p.cp, p.remaining, p.resetAfter, p.retryAfter, p.sum, p.cost = o.cp, o.Remaining, o.ResetAfter, o.RetryAfter, o.sum, o.cost
	d.pairAllowed, d.pairReason, d.pairTaken, d.pairFirst = o.Allowed, o.Reason, o.taken, first
}

// setPairResult is setPair for the decision a store's result r is under
// cp (decisionInto), with the key's sum, the cost and what took it.
func (d *Decision) setPairResult(cp *compiled, r *Result, sum uint64, cost int64, taken taker, first bool) {
	p := &d.pair
	p.cp, p.remaining, p.resetAfter, p.retryAfter, p.sum, p.cost = cp, max(0, r.Remaining), r.ResetAfter, r.RetryAfter, sum, cost
	if r.Reason == ReasonCostExceedsCapacity {
		p.retryAfter = 0
	}
	d.pairAllowed, d.pairReason, d.pairTaken, d.pairFirst = r.Allowed, r.Reason, taken, first
}

// spill moves d's records to a multi of their own (a shadow admission
// needs one).
func (d *Decision) spill() *multi {
	if d.multi != nil {
		return d.multi
	}
	var buf [2]Decision
	m := &multi{each: append([]Decision(nil), d.records(&buf)...)}
	if len(m.each) == 1 {
		m.each[0] = d.mainRecord()
	}
	d.pair, d.pairAllowed, d.pairReason, d.pairTaken, d.pairFirst = pair{}, false, 0, takenNone, false
	d.multi = m
	return m
}

// Exempt reports whether the request was exempt or skipped: it consumed
// nothing and carries no rate-limit headers.
func (d *Decision) Exempt() bool {
	return d.Reason == ReasonExempt || d.Reason == ReasonSkipped
}

// ResetAt is the instant the key is back to full capacity.
func (d *Decision) ResetAt() time.Time { return d.At.Add(d.ResetAfter) }

// HasHeaders reports whether the decision is rendered as rate-limit
// headers: it was decided under a policy, by the store (or the fallback
// store). Exempt, skipped and failed-open requests and missing keys have
// none.
func (d *Decision) HasHeaders() bool {
	switch d.Reason {
	case ReasonExempt, ReasonSkipped, ReasonStoreError, ReasonMissingKey:
		return false
	}
	return d.cp != nil
}

// compiled is a validated policy with what the hot path precomputes.
type compiled struct {
	Policy
	exempt exemptions
	prefix string // "halt:<escaped name>:"
	// limitVals is the policy's limit in decimal, one value shared by
	// every response's limit header (SliceHeaders): never written to.
	// draft7Policy and ietfPolicy are the RateLimit-Policy values of
	// those styles, the former shared alike.
	limitVals    []string
	draft7Policy []string
	ietfPolicy   string
	policyID     string // RFC 9651 sf-string of the name
	quota        *Quota // the quota a WithQuotas policy stands for (quota_limiter.go)
}

func compile(p Policy) (*compiled, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	ex, _ := parseExemptions(p.Exemptions)
	p.Exemptions = slices.Clone(p.Exemptions)
	id := sfString(p.Name)
	return &compiled{
		Policy:       p,
		exempt:       ex,
		prefix:       "halt:" + escapeKeyPart(p.Name) + ":",
		limitVals:    []string{itoa(p.Limit)},
		draft7Policy: []string{draft7Policy(p.Limit, p.Window)},
		ietfPolicy:   ietfPolicy(id, p.Limit, p.Window),
		policyID:     id,
	}, nil
}

// same reports whether p compiles to c: every field that changes a
// decision, the key or an exemption. KeyFunc is not compared (functions
// are not comparable); the limiter always calls the KeyFunc of the policy
// it was just given.
func (c *compiled) same(p *Policy) bool {
	a := &c.Policy
	return a.Limit == p.Limit && a.Window == p.Window && a.Burst == p.Burst &&
		a.Algorithm == p.Algorithm && a.KeyStrategy == p.KeyStrategy && a.Cost == p.Cost &&
		a.BlockDuration == p.BlockDuration && a.Precision == p.Precision && a.PerRoute == p.PerRoute &&
		a.Shadow == p.Shadow && a.MaxWait == p.MaxWait && (a.Count == nil) == (p.Count == nil) &&
		a.Plan == p.Plan && (a.KeyFunc == nil) == (p.KeyFunc == nil) && slices.Equal(a.Exemptions, p.Exemptions)
}

// maxCachedPolicies bounds the cache of resolved policies. A resolver
// that builds names from request data would otherwise grow it forever;
// past the bound the cache starts over.
const maxCachedPolicies = 4096

// policyCache holds compiled resolver (and WithPolicy) results by name.
type policyCache struct {
	m sync.Map // name -> *compiled
	n atomic.Int64
}

// lookup returns p compiled, from the cache when an entry of that name
// compiles the same.
func (pc *policyCache) lookup(p *Policy) (*compiled, error) {
	if v, ok := pc.m.Load(p.Name); ok {
		if cp := v.(*compiled); cp.same(p) {
			return cp, nil
		}
	}
	cp, err := compile(*p)
	if err != nil {
		return nil, err
	}
	if pc.n.Add(1) > maxCachedPolicies {
		pc.m.Clear()
		pc.n.Store(1)
	}
	pc.m.Store(p.Name, cp)
	return cp, nil
}

// nameSet remembers up to maxCachedPolicies names, for once-per-name
// reports.
type nameSet struct {
	mu sync.Mutex
	m  map[string]struct{}
}

// add reports whether name is new (and the set not full).
func (s *nameSet) add(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[name]; ok || len(s.m) >= maxCachedPolicies {
		return false
	}
	if s.m == nil {
		s.m = make(map[string]struct{})
	}
	s.m[name] = struct{}{}
	return true
}
