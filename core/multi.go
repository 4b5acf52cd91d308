package halt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// WithPolicies adds policies the limiter decides together with its own, in
// one check, all or nothing: a request is admitted only if every policy
// admits it, and a rejected request consumes nothing from any of them
// ("2 per second and 20 per hour"). The Decision is the most restrictive
// of them (the one that blocked, or the one closest to exhaustion), and
// [Decision.Policies] lists each. Policy names must differ.
//
// When every policy keys the same client (the same key strategy), the
// decision is one atomic store call on a store implementing [MultiTaker]
// (both Halt stores do: on Redis one script, one round trip, one Cluster
// slot). When they key different things (per API key and per IP), they are
// decided in order and what earlier policies took is given back on a
// rejection ([Refunder]), so nothing is ever over-admitted, though a
// concurrent request may briefly see the earlier policies charged.
//
// Shadow policies ([Policy.Shadow]) among them are decided after the
// others admitted the request, and never reject it.
func WithPolicies(ps ...Policy) Option {
	return optionFunc(func(l *Limiter) error {
		for _, p := range ps {
			cp, err := compile(p)
			if err != nil {
				return err
			}
			l.extra = append(l.extra, cp)
		}
		return nil
	})
}

// initPolicies checks the limiter's policies against its store, at New.
func (l *Limiter) initPolicies() error {
	names := map[string]bool{l.policy.Name: true}
	enforcing, sameKeys := 0, true
	if !l.policy.Shadow {
		enforcing++
	}
	for _, cp := range l.extra {
		if names[cp.Name] {
			return fmt.Errorf("halt: two policies are named %q: a name namespaces counters, so each policy needs its own", cp.Name)
		}
		names[cp.Name] = true
		if !cp.Shadow {
			enforcing++
		}
		if cp.KeyStrategy != l.policy.KeyStrategy || cp.KeyStrategy == KeyCustom {
			sameKeys = false
		}
	}
	l.multi = len(l.extra) > 0 || l.policy.Shadow
	switch {
	case enforcing < 2:
	case sameKeys && l.multiT == nil && l.refunder == nil:
		return fmt.Errorf("halt: %d policies decided together need a store implementing halt.MultiTaker "+
			"or halt.Refunder; %T implements neither", enforcing, l.store)
	case !sameKeys && l.refunder == nil:
		return fmt.Errorf("halt: policies with different key strategies are decided in order and need a "+
			"store implementing halt.Refunder to give back on a rejection; %T does not", l.store)
	}
	if err := l.initQuotas(names); err != nil {
		return err
	}
	if err := l.initPenalties(); err != nil {
		return err
	}
	return l.initFlow()
}

// initFlow checks the flow-control policies (flow.go) against the
// limiter's shape and store, at New.
func (l *Limiter) initFlow() error {
	if l.waiting.perKey == 0 {
		l.waiting.perKey, l.waiting.max = DefaultMaxWaitingPerKey, DefaultMaxWaiting
	}
	for _, cp := range append([]*compiled{l.policy}, l.extra...) {
		flow := cp.Algorithm == InFlight || cp.MaxWait > 0
		switch {
		case flow && l.multi:
			return fmt.Errorf("halt: policy %q: an InFlight or MaxWait policy must be its limiter's only policy "+
				"(no WithPolicies, quotas, penalties or shadow policies beside it); give it a limiter of its own", cp.Name)
		case cp.Algorithm == InFlight:
			if _, ok := l.store.(Leaser); !ok {
				return fmt.Errorf("halt: policy %q: an InFlight policy needs a store implementing halt.Leaser; %T does not", cp.Name, l.store)
			}
		case (cp.Count != nil || cp.MaxWait > 0) && l.refunder == nil:
			return fmt.Errorf("halt: policy %q: counting by outcome and waiting need a store implementing halt.Refunder "+
				"to give back; %T does not", cp.Name, l.store)
		}
	}
	return nil
}

// polTarget is one policy of a multi-policy check and its key.
type polTarget struct {
	cp     *compiled
	key    []byte
	client int // where the client part starts in key
}

// maxInline is how many policies (and, apart, quotas and shadow policies)
// a check handles without allocating its bookkeeping.
const maxInline = 4

// scratch is what a multi-policy check gives the store interface, which
// would otherwise move it to the heap on every check, pooled: the keys'
// buffer, and the keys, policies and results of one store call. (The
// targets stay on the check's stack: clearing pointers out of a pooled
// object costs write barriers.)
type scratch struct {
	buf  []byte // the keys, one after the other
	res  [maxInline]Result
	keys [maxInline][]byte
	ps   [maxInline]*Policy
}

var scratchPool = sync.Pool{New: func() any { return &scratch{buf: make([]byte, 0, 384)} }}

// addTarget appends a target to ts, written field by field in place (a
// struct literal is built on the stack and copied: a stall, reading back
// whole what was just written in parts).
func addTarget(ts []polTarget, cp *compiled, key []byte, client int) []polTarget {
	if len(ts) == cap(ts) {
		return append(ts, polTarget{cp: cp, key: key, client: client})
	}
	ts = ts[:len(ts)+1]
	pt := &ts[len(ts)-1]
	pt.cp, pt.key, pt.client = cp, key, client
	return ts
}

// checkMulti is checkInto for limiters with several policies or a shadow
// one. A check that decides at most two enforcing policies and admits
// under no shadow policy allocates nothing: the other policy's decision
// is kept in the Decision (pair).
func (l *Limiter) checkMulti(ctx context.Context, req Request, cost int64, override *Policy, now time.Time, d *Decision) error {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	var enfA, shA, qtA [maxInline]polTarget
	enf, sh, qt := enfA[:0], shA[:0], qtA[:0]
	var t target
	l.resolve(ctx, req, override, now, sc.buf[:0], &t)
	if t.early {
		t.earlyDecision(now, d)
		l.report(ctx, &t, d)
		return t.err
	}
	if t.cp.Shadow {
		sh = addTarget(sh, t.cp, t.key, t.client)
	} else {
		enf = addTarget(enf, t.cp, t.key, t.client)
	}
	buf := t.key[len(t.key):]
	path := req.Path()
	for _, cp := range l.extra {
		if cp.exemptPath(path) || (t.c.ok && cp.exemptIP(t.c.addr)) {
			continue
		}
		key, start, ok := l.buildKey(buf, cp, cp.KeyFunc, req, t.c)
		if !ok {
			if l.missing == MissingKeyDeny && !cp.Shadow {
				*d = Decision{Reason: ReasonMissingKey, Policy: cp.Name, Limit: cp.Limit, Window: cp.Window, At: now, cp: cp}
				l.report(ctx, &t, d)
				return t.err
			}
			continue
		}
		if cp.Shadow {
			sh = addTarget(sh, cp, key, start)
		} else {
			enf = addTarget(enf, cp, key, start)
		}
		buf = key[len(key):]
	}
	if len(l.quotas) > 0 {
		var qd *Decision
		qt, qd = l.quotaTargets(buf, req, t.c, now, qt)
		if qd != nil {
			*d = *qd
			l.report(ctx, &t, d)
			return t.err
		}
	}
	atomicPen := l.penalty != nil && l.atomicPenalty(&t, enf, qt)
	if !atomicPen && l.penalty != nil {
		if l.penalize(ctx, &t, enf, now, d) {
			l.report(ctx, &t, d)
			return t.err
		}
	}
	sc.buf = t.key[:0] // the buffer from its start: later keys follow the first in it

	var err error
	if n := len(enf) + len(qt); n == 0 {
		*d = Decision{Allowed: true, Reason: ReasonAllowed, Policy: t.cp.Name, At: now}
	} else if n <= 2 && len(qt) == 0 && !atomicPen {
		// One or two rate policies: decided from the store's results
		// straight into d, the other policy's as d's pair.
		start := l.started(now)
		res, merr := l.takeAll(ctx, l.store, sc, enf, now, cost)
		if l.timer != nil {
			l.timer.OnStoreDuration(ctx, l.storeName, l.since(start))
		}
		taken := takenStore
		if merr != nil {
			err = fmt.Errorf("%w: %w", ErrStoreUnavailable, merr)
			taken = takenNone
			if l.fallback != nil && ctx.Err() == nil {
				var ferr error
				if res, ferr = l.takeAll(ctx, l.fallback, sc, enf, now, cost); ferr == nil {
					taken = takenFallback
				}
			}
		}
		if taken == takenNone {
			*d, err = l.failed(ctx, &target{cp: enf[0].cp, key: enf[0].key, client: enf[0].client}, now, cost, err)
			return err
		}
		i := 0
		if n == 2 && resultAbove(&res[1], &res[0]) {
			i = 1
		}
		l.decisionInto(enf[i].cp, &res[i], now, d)
		d.sum = keySum(enf[i].key)
		if d.Allowed {
			d.taken = taken
		}
		d.cost = cost
		if n == 2 {
			j := 1 - i
			d.setPairResult(enf[j].cp, &res[j], keySum(enf[j].key), cost, d.taken, j == 0)
		}
		if err != nil {
			l.telemetry.OnError(ctx, Event{Policy: d.Policy, Store: l.storeName, Decision: *d, key: t.clientBytes()}, err)
		}
	} else {
		// The decisions, in order: up to two rate policies on the stack
		// (two), more or quotas on the heap (heap, which multi keeps).
		var two [2]Decision
		var heap []Decision
		out := two[:n]
		if n > len(two) || len(qt) > 0 {
			heap = make([]Decision, n)
			out = heap
		}
		start := l.started(now)
		var banned bool // d is a banned client's rejection
		var merr error
		if atomicPen {
			banned, merr = l.decidePenalized(ctx, &t, enf, qt, now, cost, out, d)
		} else {
			merr = l.decideWithQuotas(ctx, l.store, sc, enf, qt, now, cost, out)
		}
		if l.timer != nil {
			l.timer.OnStoreDuration(ctx, l.storeName, l.since(start))
		}
		if banned {
			l.report(ctx, &t, d)
			return t.err
		}
		taken := takenStore
		if merr != nil {
			err = fmt.Errorf("%w: %w", ErrStoreUnavailable, merr)
			taken = takenNone
			if l.fallback != nil && ctx.Err() == nil {
				if ferr := l.decideWithQuotas(ctx, l.fallback, sc, enf, qt, now, cost, out); ferr == nil {
					taken = takenFallback
				}
			}
		}
		if taken == takenNone {
			first := qt
			if len(enf) > 0 {
				first = enf
			}
			*d, err = l.failed(ctx, &target{cp: first[0].cp, key: first[0].key, client: first[0].client}, now, cost, err)
			return err
		}
		i := mostRestrictive(out)
		if out[i].Allowed {
			for j := range out {
				out[j].taken = taken
			}
		}
		*d = out[i]
		switch {
		case heap != nil:
			d.multi = &multi{each: heap}
		case n == 2:
			d.setPair(&out[1-i], i == 1)
		}
		if err != nil {
			l.telemetry.OnError(ctx, Event{Policy: d.Policy, Store: l.storeName, Decision: *d, key: t.clientBytes()}, err)
		}
	}
	d.cost = cost
	if d.Allowed {
		if len(sh) > 0 {
			l.decideShadows(ctx, sh, now, cost, d)
		}
		d.finish = l.finishes(d)
	}
	l.report(ctx, &t, d)
	if !atomicPen && l.penalty != nil {
		l.violated(ctx, &t, d, now)
	}
	if err == nil {
		err = t.err
	}
	return err
}

// decideAll decides the enforcing policies through store, writing their
// decisions to out (as long as enf): see takeAll.
func (l *Limiter) decideAll(ctx context.Context, store Store, sc *scratch, enf []polTarget, now time.Time, cost int64, out []Decision) error {
	res, err := l.takeAll(ctx, store, sc, enf, now, cost)
	if err != nil {
		return err
	}
	for i := range enf {
		o := &out[i]
		l.decisionInto(enf[i].cp, &res[i], now, o)
		o.cost, o.sum, o.taken = cost, keySum(enf[i].key), takenNone
	}
	return nil
}

// takeAll decides the enforcing policies through store and returns the
// store's results (in sc, or allocated past maxInline): in one atomic call
// when they key the same client and store is a MultiTaker, otherwise in
// order, giving back what earlier ones took when a later one rejects.
func (l *Limiter) takeAll(ctx context.Context, store Store, sc *scratch, enf []polTarget, now time.Time, cost int64) ([]Result, error) {
	n := len(enf)
	res := sc.res[:]
	if n > len(res) {
		res = make([]Result, n)
	}
	res = res[:n]
	var mt MultiTaker
	switch {
	case n == 1:
	case store == l.store:
		mt = l.multiT // found once, at New
	default:
		mt, _ = store.(MultiTaker)
	}
	switch {
	case n == 1:
		r, err := store.Take(ctx, enf[0].key, &enf[0].cp.Policy, now, cost)
		if err != nil {
			return nil, err
		}
		res[0] = r
	case mt != nil && sameClient(enf):
		keys, ps := sc.keys[:], sc.ps[:]
		if n > len(keys) {
			keys, ps = make([][]byte, n), make([]*Policy, n)
		}
		keys, ps = keys[:n], ps[:n]
		for i := range enf {
			keys[i], ps[i] = enf[i].key, &enf[i].cp.Policy
		}
		if err := mt.TakeAll(ctx, keys, ps, now, cost, res); err != nil {
			return nil, err
		}
	default:
		if err := l.takeInOrder(ctx, store, enf, now, cost, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// takeInOrder takes each policy in turn; on a rejection (or an error) it
// gives back what the earlier ones took and reports their standing.
func (l *Limiter) takeInOrder(ctx context.Context, store Store, enf []polTarget, now time.Time, cost int64, res []Result) error {
	ref, _ := store.(Refunder)
	if ref == nil {
		return fmt.Errorf("%w: policies decided in order need a store implementing halt.Refunder, not %T", ErrUnsupported, store)
	}
	giveBack := func(n int) error {
		var errs []error
		for j := n - 1; j >= 0; j-- {
			errs = append(errs, ref.Refund(ctx, enf[j].key, &enf[j].cp.Policy, now, cost))
		}
		return errors.Join(errs...)
	}
	for i, pt := range enf {
		r, err := store.Take(ctx, pt.key, &pt.cp.Policy, now, cost)
		if err != nil {
			return errors.Join(err, giveBack(i))
		}
		res[i] = r
		if r.Allowed {
			continue
		}
		if err := giveBack(i); err != nil {
			return err
		}
		// The standing of the others, as if the request had not come.
		pk, _ := store.(Peeker)
		for j, q := range enf {
			if j == i || pk == nil {
				continue
			}
			if s, err := pk.Peek(ctx, q.key, &q.cp.Policy, now, cost); err == nil {
				res[j] = s
			}
		}
		return nil
	}
	return nil
}

// sameClient reports whether every target keys the same client (the same
// text between the braces), so one atomic store call may decide them.
func sameClient(ts []polTarget) bool {
	first := ts[0].key[ts[0].client:]
	for _, t := range ts[1:] {
		if !bytes.Equal(t.key[t.client:], first) {
			return false
		}
	}
	return true
}

// mostRestrictive picks the decision a multi-policy check reports: among
// rejections a cost no wait can fix first, then the longest wait; among
// admissions the fewest remaining, then the latest reset.
func mostRestrictive(ds []Decision) int {
	best := 0
	for i := 1; i < len(ds); i++ {
		if resultAbove(resultOf(&ds[i]), resultOf(&ds[best])) {
			best = i
		}
	}
	return best
}

// resultOf is the part of d that mostRestrictive orders by, as a Result.
func resultOf(d *Decision) *Result {
	return &Result{Allowed: d.Allowed, Reason: d.Reason, Remaining: d.Remaining, RetryAfter: d.RetryAfter, ResetAfter: d.ResetAfter}
}

// resultAbove reports whether the decision a store's result a becomes
// (decisionInto) comes before b's in mostRestrictive's order, reading the
// results in place: rejections first (a cost no wait can fix, then the
// longest wait), then the fewest remaining, then the latest reset.
func resultAbove(a, b *Result) bool {
	switch {
	case a.Allowed != b.Allowed:
		return !a.Allowed
	case !a.Allowed:
		ac, bc := a.Reason == ReasonCostExceedsCapacity, b.Reason == ReasonCostExceedsCapacity
		if ac || bc {
			return ac && !bc // a cost no wait fixes; two of them wait alike (RetryAfter 0)
		}
		return a.RetryAfter > b.RetryAfter
	}
	if ar, br := max(0, a.Remaining), max(0, b.Remaining); ar != br {
		return ar < br
	}
	return a.ResetAfter > b.ResetAfter
}

// decideShadows decides the shadow policies of an admitted request d:
// their would-be rejections go to telemetry, their admissions are
// remembered for Undo (in d's multi, which one needs).
func (l *Limiter) decideShadows(ctx context.Context, sh []polTarget, now time.Time, cost int64, d *Decision) {
	for i := range sh {
		pt := &sh[i]
		r, err := l.store.Take(ctx, pt.key, &pt.cp.Policy, now, cost)
		if err != nil {
			sd := Decision{Allowed: true, Reason: ReasonStoreError, Policy: pt.cp.Name, At: now, cp: pt.cp}
			l.telemetry.OnError(ctx, Event{Policy: pt.cp.Name, Store: l.storeName, key: pt.key[pt.client : len(pt.key)-1],
				Decision: sd, Shadow: true}, fmt.Errorf("%w: %w", ErrStoreUnavailable, err))
			continue
		}
		sd := l.decision(pt.cp, &r, now)
		sd.cost, sd.sum = cost, keySum(pt.key)
		if sd.Allowed {
			sd.taken = takenStore
			m := d.spill()
			m.shadow = append(m.shadow, sd)
			if d.taken == takenNone {
				d.taken = takenStore
			}
			continue
		}
		if !l.quiet {
			l.telemetry.OnBlocked(ctx, Event{Policy: pt.cp.Name, Store: l.storeName, key: pt.key[pt.client : len(pt.key)-1],
				Decision: sd, Shadow: true})
		}
	}
}

// Undo gives back what the check that returned d took from the store, for
// every policy it charged (shadow ones included): as if req had not been
// counted. Stacked middleware uses it: when a later limiter rejects a
// request, the earlier ones are given back what they took for it. The key
// is computed from req again and compared with (a hash of) the key the
// check counted under: when they differ (a later middleware set the user
// the key depends on, say), nothing is given back for that policy, so an
// Undo never credits another key. It does nothing for decisions that took
// nothing ([Decision.Counted] is false). It needs a store implementing
// [Refunder].
func (l *Limiter) Undo(ctx context.Context, req Request, d *Decision) error {
	if isNil(req) {
		return ErrNilRequest
	}
	if d == nil || !d.Allowed || d.taken == takenNone {
		return nil
	}
	err := l.giveBack(ctx, req, d, nil)
	d.taken = takenNone // given back: a second Undo, or a Finish, gives nothing more
	return err
}

// giveBack gives back what d took under each policy for which want (nil:
// every policy) is true: Undo, and Finish for policies that count by
// outcome.
func (l *Limiter) giveBack(ctx context.Context, req Request, d *Decision, want func(*compiled) bool) error {
	var buf [2]Decision
	list := d.records(&buf)
	if d.multi != nil {
		list = append(append([]Decision(nil), d.multi.each...), d.multi.shadow...)
	}
	c := l.ip.resolve(req)
	now := l.clock.Now()
	bp := l.keyPool.Get().(*[]byte) // the stores copy what they keep of a key
	defer l.keyPool.Put(bp)
	var errs []error
	for i := range list {
		s := &list[i]
		if s.taken == takenNone || s.cp == nil || s.cp.Algorithm == InFlight || s.cost < 0 || (want != nil && !want(s.cp)) {
			continue
		}
		store := l.store
		if s.taken == takenFallback {
			store = l.fallback
		}
		if s.cp.quota != nil {
			if err := l.undoQuota(ctx, store, s, req, c, now); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		ref, ok := store.(Refunder)
		if !ok {
			errs = append(errs, fmt.Errorf("%w: Undo needs a store implementing halt.Refunder, not %T", ErrUnsupported, store))
			continue
		}
		key, _, ok := l.buildKey((*bp)[:0], s.cp, s.cp.KeyFunc, req, c)
		*bp = key[:0]
		if !ok || keySum(key) != s.sum {
			continue
		}
		if err := ref.Refund(ctx, key, &s.cp.Policy, now, s.cost); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrStoreUnavailable, err))
		}
	}
	return errors.Join(errs...)
}

// Standing returns req's standing under each policy the limiter enforces
// (its own, as the resolver picks it, then those of WithPolicies; shadow
// policies are left out), without consuming anything and whatever the
// exemptions: each Decision's Allowed, Remaining, ResetAfter and RetryAfter
// are as [Peeker] reports them for a request of the policy's cost. A
// policy under which req has no key is left out. It needs a store
// implementing Peeker.
func (l *Limiter) Standing(ctx context.Context, req Request) ([]Decision, error) {
	return l.standing(ctx, req, 0)
}

func (l *Limiter) standing(ctx context.Context, req Request, cost int64) ([]Decision, error) {
	if isNil(req) {
		return nil, ErrNilRequest
	}
	if l.peeker == nil {
		return nil, fmt.Errorf("%w: Standing needs a store implementing halt.Peeker, not %T", ErrUnsupported, l.store)
	}
	cp, keyFunc, perr := l.resolvePolicy(ctx, req, nil)
	c := l.ip.resolve(req)
	now := l.clock.Now()
	var out []Decision
	var pen *Penalty
	for i, p := range append([]*compiled{cp}, l.extra...) {
		if p.Shadow {
			continue
		}
		kf := p.KeyFunc
		if i == 0 {
			kf = keyFunc
		}
		key, start, ok := l.buildKey(nil, p, kf, req, c)
		if !ok {
			continue
		}
		if i == 0 {
			pen = l.standingPenaltyOf(ctx, key, start, now)
		}
		p = l.standingPolicy(ctx, p, pen)
		r, err := l.peeker.Peek(ctx, key, &p.Policy, now, cost)
		if err != nil {
			return out, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
		}
		out = append(out, l.decision(p, &r, now))
	}
	out, err := l.quotaStanding(ctx, req, c, now, out)
	if err != nil {
		return out, err
	}
	return out, perr
}

// StatusJSON renders the standing of req under each limiter, as a status
// endpoint (GitHub's GET /rate_limit) answers it:
//
//	{"policies":[{"name":"public_api","limit":100,"remaining":97,"reset":2},...]}
//
// where remaining is how many requests of the policy's cost would pass now
// and reset the whole seconds (rounded up) until the policy is full again
// for the caller. It consumes nothing. The adapters' Status handlers serve
// it.
func StatusJSON(ctx context.Context, req Request, limiters ...*Limiter) ([]byte, error) {
	b := append(make([]byte, 0, 64+64*len(limiters)), `{"policies":[`...)
	n := 0
	for _, l := range limiters {
		if l == nil {
			continue
		}
		ds, err := l.Standing(ctx, req)
		if err != nil && !errors.Is(err, ErrInvalidPolicy) {
			return nil, err
		}
		for i := range ds {
			d := &ds[i]
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = append(b, `{"name":`...)
			b = strconv.AppendQuote(b, d.Policy)
			b = append(b, `,"limit":`...)
			b = strconv.AppendInt(b, d.Limit, 10)
			b = append(b, `,"remaining":`...)
			b = strconv.AppendInt(b, d.Remaining, 10)
			b = append(b, `,"reset":`...)
			b = strconv.AppendInt(b, ceilSeconds(d.ResetAfter), 10)
			b = append(b, '}')
		}
	}
	return append(b, "]}"...), nil
}
