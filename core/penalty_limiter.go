package halt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

// ReasonBanned means the key is banned ([PenaltyManager.Ban] or
// [Limiter.Ban]) until RetryAfter. It is answered 403 Forbidden by default
// ([WithRejectStatus] changes it, to 429 say), with Retry-After and a body
// that says "banned".
const ReasonBanned Reason = 101

const bodyBanned = `{"error":"banned","message":"This client is banned for now.","retry_after":`

// penalties is a limiter's WithPenalties configuration.
type penalties struct {
	cfg      PenaltyConfig
	severity float64
	taker    PenaltyTaker // the store, when it applies penalties inside the decision
	reduced  sync.Map     // *compiled -> *compiled, the policy at the multiplier
}

// WithPenalties makes the limiter penalize abusive clients: every request
// it rejects (rate limited, in a cooldown, over a quota) records a
// violation of the given severity (0: no recording, penalties then come
// only from a [PenaltyManager] or [Limiter.RecordViolation]) against the
// client of the limiter's own policy, and while the client is penalized
// every policy of the limiter admits it at cfg.Multiplier times its limit
// and burst (at least 1; quotas are not reduced). A banned client is
// rejected with [ReasonBanned]. The state lives in the store, under
// "halt:penalty:{<client>}", so every instance sharing the store agrees;
// the store must implement [PenaltyStore].
//
// On a store implementing [PenaltyTaker] (the memory store and Redis do)
// the penalty is part of the decision: one atomic store call reads the
// client's penalty state, rejects a banned client, decides the policies
// (reduced while the client is penalized) and quotas, and records the
// violation of a rejection, so the violation that starts a penalty reduces
// the very next decision on every instance; on Redis it is one script, one
// round trip. This holds when every policy and quota of the limiter keys
// the same client as its own policy; otherwise, and on other stores, a
// check reads the penalty state with one store call before deciding and a
// rejection records with another (a violation then reduces the limits from
// the next request on, not for requests decided concurrently with it).
func WithPenalties(cfg PenaltyConfig, severity float64) Option {
	return optionFunc(func(l *Limiter) error {
		if err := cfg.Validate(); err != nil {
			return err
		}
		if math.IsNaN(severity) || severity < 0 || math.IsInf(severity, 0) {
			return fmt.Errorf("halt: WithPenalties: severity must not be negative, got %v", severity)
		}
		l.penalty = &penalties{cfg: cfg, severity: severity}
		return nil
	})
}

func (l *Limiter) initPenalties() error {
	if l.penalty == nil {
		return nil
	}
	if _, ok := l.store.(PenaltyStore); !ok {
		return fmt.Errorf("halt: WithPenalties needs a store implementing halt.PenaltyStore; %T does not", l.store)
	}
	l.penalty.taker, _ = l.store.(PenaltyTaker)
	l.multi = true
	return nil
}

// reduce returns cp at multiplier m (cached).
func (pn *penalties) reduce(cp *compiled, m float64) *compiled {
	if v, ok := pn.reduced.Load(cp); ok {
		return v.(*compiled)
	}
	p := cp.Policy
	scale := func(n int64) int64 { return max(1, int64(math.Floor(float64(n)*m))) }
	p.Limit = scale(p.Limit)
	if p.Burst != 0 {
		p.Burst = scale(p.Burst)
	}
	p.Cost = min(p.Cost, p.Capacity())
	r, err := compile(p)
	if err != nil {
		return cp
	}
	r.exempt = cp.exempt
	v, _ := pn.reduced.LoadOrStore(cp, r)
	return v.(*compiled)
}

// penaltyFor reads the penalty of client (the part between the braces):
// doPenalty's read, which reports nothing (a read starts and ends
// nothing), with the key and the op in a pooled scratch, since both
// escape through the PenaltyStore interface and the read comes before
// every check on the multi-call path.
func (l *Limiter) penaltyFor(ctx context.Context, client []byte, now time.Time) (Penalty, error) {
	sc := penReadPool.Get().(*penRead)
	defer func() {
		sc.op = PenaltyOp{} // the pool keeps no configuration
		penReadPool.Put(sc)
	}()
	sc.op = PenaltyOp{Kind: PenaltyRead, Config: &l.penalty.cfg, Now: now}
	st, at, started, err := l.store.(PenaltyStore).Penalty(ctx, penaltyKey(sc.key[:0], client), &sc.op)
	if err != nil {
		return Penalty{}, err
	}
	return penaltyOf(&l.penalty.cfg, &st, at, started), nil
}

// penRead is penaltyFor's scratch.
type penRead struct {
	key [96]byte
	op  PenaltyOp
}

var penReadPool = sync.Pool{New: func() any { return new(penRead) }}

// penalize applies the client's penalty to the targets before a check:
// their policies at the multiplier while it is penalized. When the client
// is banned it writes the rejection to *d and reports true. A store
// failure reading the penalty leaves the limits as they are.
func (l *Limiter) penalize(ctx context.Context, t *target, enf []polTarget, now time.Time, d *Decision) bool {
	if l.penalty == nil {
		return false
	}
	p, err := l.penaltyFor(ctx, t.clientBytes(), now)
	if err != nil || !p.Active {
		return false
	}
	if p.Banned {
		*d = bannedDecision(t, &p, now)
		return true
	}
	for i := range enf {
		enf[i].cp = l.penalty.reduce(enf[i].cp, p.Multiplier)
	}
	return false
}

// bannedDecision is the rejection of a banned client: until the ban ends.
func bannedDecision(t *target, p *Penalty, now time.Time) Decision {
	wait := max(0, p.Until.Sub(p.At))
	return Decision{Reason: ReasonBanned, Policy: t.cp.Name, Limit: t.cp.Limit, Window: t.cp.Window,
		RetryAfter: wait, ResetAfter: wait, At: now, cp: t.cp}
}

// atomicPenalty reports whether the check's penalty is applied inside its
// decision: the store is a PenaltyTaker and every policy and quota keys
// the client of t, the limiter's own policy.
func (l *Limiter) atomicPenalty(t *target, enf, qt []polTarget) bool {
	if l.penalty == nil || l.penalty.taker == nil || len(enf)+len(qt) == 0 {
		return false // nothing to decide: the ban is read on its own
	}
	c := t.clientBytes()
	if len(c) == 0 {
		return false
	}
	for _, ts := range [2][]polTarget{enf, qt} {
		for _, pt := range ts {
			if pt.client <= 0 || pt.client >= len(pt.key) || !bytes.Equal(pt.key[pt.client:len(pt.key)-1], c) {
				return false
			}
		}
	}
	return true
}

// penScratch is the bookkeeping of one PenaltyTaker call, pooled: the
// store interface would otherwise move it to the heap on every check.
type penScratch struct {
	pt      PenalizedTake
	keys    [maxInline][]byte
	ps, rps [maxInline]*Policy
	reduced [maxInline]*compiled
	out     [maxInline]Result
	qkeys   [maxInline][]byte
	ops     [maxInline]QuotaOp
	qout    [maxInline]QuotaResult
	pkey    [128]byte
}

var penScratchPool = sync.Pool{New: func() any { return new(penScratch) }}

// inline returns buf[:n] when n fits, else a new slice of n.
func inline[T any](buf []T, n int) []T {
	if n <= len(buf) {
		return buf[:n]
	}
	return make([]T, n)
}

// decidePenalized decides the policies enf and quotas qt of t's client and
// applies its penalty, in one PenaltyTaker call, writing their decisions
// to out (the policies', then the quotas'): while the client is penalized
// enf's policies are decided (and reported) reduced; a banned client's
// rejection is written to *d (banned is true) and nothing is decided; a
// rejection records the violation in the same call.
func (l *Limiter) decidePenalized(ctx context.Context, t *target, enf, qt []polTarget, now time.Time, cost int64,
	out []Decision, d *Decision) (banned bool, err error) {
	pn := l.penalty
	sc := penScratchPool.Get().(*penScratch)
	defer func() {
		*sc = penScratch{} // the pool keeps no key, policy or result
		penScratchPool.Put(sc)
	}()
	n, nq := len(enf), len(qt)
	keys, ps, rps := inline(sc.keys[:], n), inline(sc.ps[:], n), inline(sc.rps[:], n)
	reduced := inline(sc.reduced[:], n)
	for i, pt := range enf {
		reduced[i] = pn.reduce(pt.cp, pn.cfg.Multiplier)
		keys[i], ps[i], rps[i] = pt.key, &pt.cp.Policy, &reduced[i].Policy
	}
	amount := quotaAmount(cost)
	qkeys, ops := inline(sc.qkeys[:], nq), inline(sc.ops[:], nq)
	for i, pt := range qt {
		qkeys[i], ops[i] = pt.key, quotaOp(pt.cp, QuotaConsume, amount, now)
	}
	pt := &sc.pt
	*pt = PenalizedTake{Keys: keys, Policies: ps, Reduced: rps, Now: now, Cost: cost, QuotaKeys: qkeys, QuotaOps: ops,
		PenaltyKey: penaltyKey(sc.pkey[:0], t.clientBytes()), Config: &pn.cfg, Severity: pn.severity,
		Out: inline(sc.out[:], n), QuotaOut: inline(sc.qout[:], nq)}
	if err := pn.taker.TakePenalized(ctx, pt); err != nil {
		return false, err
	}
	p := penaltyOf(&pn.cfg, &pt.Penalty, pt.At, pt.Started)
	if pt.Banned {
		*d = bannedDecision(t, &p, now)
		return true, nil
	}
	if pt.Started {
		reportPenalty(ctx, l.telemetry, NoticePenaltyStart, pt.PenaltyKey, &p)
	}
	if pt.Penalized {
		for i := range enf {
			enf[i].cp = reduced[i]
		}
	}
	for i, e := range enf {
		od := &out[i]
		l.decisionInto(e.cp, &pt.Out[i], now, od)
		od.cost, od.sum, od.taken = cost, keySum(e.key), takenNone
	}
	l.addQuotaDecisions(ctx, out, qt, pt.QuotaOut, amount, now, cost)
	return false, nil
}

// violated records a violation for a rejected decision.
func (l *Limiter) violated(ctx context.Context, t *target, d *Decision, now time.Time) {
	if l.penalty == nil || l.penalty.severity == 0 || d.Allowed {
		return
	}
	switch d.Reason {
	case ReasonLimited, ReasonCooldown, ReasonQuotaExceeded:
	default:
		return
	}
	var buf [96]byte
	_, _ = doPenalty(ctx, l.store.(PenaltyStore), &l.penalty.cfg, l.telemetry, penaltyKey(buf[:0], t.clientBytes()),
		PenaltyRecord, l.penalty.severity, 0, now)
}

// clientOf is req's client part under the limiter's own policy.
func (l *Limiter) clientOf(ctx context.Context, req Request) ([]byte, error) {
	if isNil(req) {
		return nil, ErrNilRequest
	}
	cp, keyFunc, _ := l.resolvePolicy(ctx, req, nil)
	key, start, ok := l.buildKey(nil, cp, keyFunc, req, l.ip.resolve(req))
	if !ok {
		return nil, errors.New("halt: the request has no key under the limiter's policy")
	}
	return key[start : len(key)-1], nil
}

func (l *Limiter) penaltyOp(ctx context.Context, req Request, kind PenaltyOpKind, severity float64, d time.Duration) (Penalty, error) {
	if l.penalty == nil {
		return Penalty{}, fmt.Errorf("%w: the limiter has no penalties (WithPenalties)", ErrUnsupported)
	}
	client, err := l.clientOf(ctx, req)
	if err != nil {
		return Penalty{}, err
	}
	return doPenalty(ctx, l.store.(PenaltyStore), &l.penalty.cfg, l.telemetry, penaltyKey(nil, client), kind, severity, d, l.clock.Now())
}

// Penalty is req's client's penalty standing, unchanged.
func (l *Limiter) Penalty(ctx context.Context, req Request) (Penalty, error) {
	return l.penaltyOp(ctx, req, PenaltyRead, 0, 0)
}

// RecordViolation records a violation of severity for req's client (a
// failed login, a bad signature: abuse the limiter itself does not see).
func (l *Limiter) RecordViolation(ctx context.Context, req Request, severity float64) (Penalty, error) {
	return l.penaltyOp(ctx, req, PenaltyRecord, severity, 0)
}

// Ban bans req's client for d (0: for good).
func (l *Limiter) Ban(ctx context.Context, req Request, d time.Duration) (Penalty, error) {
	return l.penaltyOp(ctx, req, PenaltyBan, 0, d)
}

// Unban lifts req's client's ban or penalty.
func (l *Limiter) Unban(ctx context.Context, req Request) (Penalty, error) {
	return l.penaltyOp(ctx, req, PenaltyUnban, 0, 0)
}

// standingPenalty returns the policy Standing reports for p: reduced while
// the client is penalized.
func (l *Limiter) standingPolicy(ctx context.Context, p *compiled, pen *Penalty) *compiled {
	if l.penalty == nil || pen == nil || !pen.Active || pen.Banned || p.quota != nil {
		return p
	}
	return l.penalty.reduce(p, pen.Multiplier)
}

// standingPenaltyOf reads the penalty Standing applies, nil without
// penalties or on a failure.
func (l *Limiter) standingPenaltyOf(ctx context.Context, key []byte, start int, now time.Time) *Penalty {
	if l.penalty == nil || start <= 0 || start >= len(key) {
		return nil
	}
	p, err := l.penaltyFor(ctx, key[start:len(key)-1], now)
	if err != nil {
		return nil
	}
	return &p
}

func rejectBody(body string, d *Decision) []byte {
	b := append(make([]byte, 0, len(body)+8), body...)
	b = strconv.AppendInt(b, d.RetrySeconds(), 10)
	return append(b, '}')
}
