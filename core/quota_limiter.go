package halt

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// QuotaMultiTaker is a store that decides rate-limit policies and quotas
// of one client in one atomic step, all or nothing: TakeAllQuotas admits
// the request only if every policy admits it ([MultiTaker.TakeAll]'s
// rules) and every quota op (each a QuotaConsume) fits, and only then
// records it under each. When anything rejects, no policy and no quota is
// charged. out receives the policies' answers as TakeAll gives them (a
// rejection by a quota alone answers every policy as Peek would), qout
// each quota's standing (Allowed: its consume fits). keys may be empty.
type QuotaMultiTaker interface {
	TakeAllQuotas(ctx context.Context, keys [][]byte, ps []*Policy, now time.Time, cost int64, out []Result,
		qkeys [][]byte, qops []QuotaOp, qout []QuotaResult) error
}

// ReasonQuotaExceeded means a calendar quota ([WithQuotas]) is used up
// until the end of its period (RetryAfter). Its 429 body says
// "quota_exceeded".
const ReasonQuotaExceeded Reason = 100

const bodyQuota = `{"error":"quota_exceeded","message":"The quota for this period is used up.","retry_after":`

// WithQuotas adds calendar quotas the limiter decides together with its
// policies, all or nothing ("20 per minute and 10,000 per month"): a
// request is admitted only if every policy admits it and every quota has
// room for its cost, and a rejected request consumes nothing, neither from
// a policy nor from a quota. A quota counts against Quota.KeyStrategy (or
// KeyFunc) as a policy does, under the key "halt:<quota>:{<client>}", so a
// [QuotaManager] reads and grants the same counters for the same client
// string. A rejection by a quota has the reason [ReasonQuotaExceeded]:
// 429, {"error":"quota_exceeded",...} and a Retry-After up to the period's
// end. Decisions render a quota as a policy whose limit is the quota's
// (plus grants) and whose window is the period's length.
//
// The store must implement [QuotaStore]. When the policies and quotas key
// the same client and the store implements [QuotaMultiTaker] (both Halt
// stores do; on Redis it is one script), the whole check is one atomic
// store call; otherwise the policies are decided first, then the quotas
// in order, and what was taken is given back on a rejection. Quota names
// must differ from each other and from the policies'.
func WithQuotas(qs ...Quota) Option {
	return optionFunc(func(l *Limiter) error {
		for _, q := range qs {
			if err := q.Validate(); err != nil {
				return err
			}
			p := Policy{Name: q.Name, Limit: q.Limit, Window: q.Period.nominal(), KeyStrategy: q.KeyStrategy,
				KeyFunc: q.KeyFunc, Plan: q.Plan}
			cp, err := compile(p)
			if err != nil {
				return err
			}
			q := q
			cp.quota = &q
			l.quotas = append(l.quotas, cp)
		}
		return nil
	})
}

// nominal is a period's usual length, the window a quota's policy
// validates with (decisions carry the period's real length).
func (p QuotaPeriod) nominal() time.Duration {
	switch p {
	case Hourly:
		return time.Hour
	case Daily:
		return 24 * time.Hour
	case Weekly:
		return 7 * 24 * time.Hour
	case Monthly:
		return 30 * 24 * time.Hour
	}
	return 365 * 24 * time.Hour
}

// initQuotas checks the quotas against the store and the other names, at
// New.
func (l *Limiter) initQuotas(names map[string]bool) error {
	if len(l.quotas) == 0 {
		return nil
	}
	if _, ok := l.store.(QuotaStore); !ok {
		return fmt.Errorf("halt: WithQuotas needs a store implementing halt.QuotaStore; %T does not", l.store)
	}
	for _, cp := range l.quotas {
		if names[cp.Name] {
			return fmt.Errorf("halt: two policies or quotas are named %q: a name namespaces counters, so each needs its own", cp.Name)
		}
		names[cp.Name] = true
	}
	l.multi = true
	return nil
}

// quotaTargets appends the quotas' targets for req to enf's end (after
// len(enf), in a slice of their own). d is set when a quota has no key and
// MissingKeyDeny rejects the request.
func (l *Limiter) quotaTargets(buf []byte, req Request, c client, now time.Time, qt []polTarget) ([]polTarget, *Decision) {
	for _, cp := range l.quotas {
		key, start, ok := l.buildKey(buf, cp, cp.KeyFunc, req, c)
		if !ok {
			if l.missing == MissingKeyDeny {
				return qt, &Decision{Reason: ReasonMissingKey, Policy: cp.Name, Limit: cp.Limit, Window: cp.Window, At: now, cp: cp}
			}
			continue
		}
		qt = addTarget(qt, cp, key, start)
		buf = key[len(key):]
	}
	return qt, nil
}

func quotaAmount(cost int64) int64 {
	if cost <= 0 {
		return 1
	}
	return cost
}

func quotaOp(cp *compiled, kind QuotaOpKind, amount int64, now time.Time) QuotaOp {
	return QuotaOp{Kind: kind, Limit: cp.Limit, Amount: amount, Now: now, Bounds: cp.quota.QuotaBounds(now)}
}

// decideWithQuotas is decideAll with the quotas qt: one atomic call on a
// QuotaMultiTaker when every key names one client, else the policies first
// and then each quota, giving back on a rejection. out (as long as enf and
// qt) receives the policies' decisions, then the quotas'.
func (l *Limiter) decideWithQuotas(ctx context.Context, store Store, sc *scratch, enf, qt []polTarget, now time.Time,
	cost int64, out []Decision) error {
	if len(qt) == 0 {
		return l.decideAll(ctx, store, sc, enf, now, cost, out)
	}
	qs, ok := store.(QuotaStore)
	if !ok {
		return fmt.Errorf("%w: quotas need a store implementing halt.QuotaStore, not %T", ErrUnsupported, store)
	}
	amount := quotaAmount(cost)
	ops := make([]QuotaOp, len(qt))
	qres := make([]QuotaResult, len(qt))
	for i, pt := range qt {
		ops[i] = quotaOp(pt.cp, QuotaConsume, amount, now)
	}
	pol := out[:len(enf)]
	if qm, ok := store.(QuotaMultiTaker); ok && sameClient(append(append([]polTarget(nil), enf...), qt...)) {
		res := make([]Result, len(enf))
		keys, ps := make([][]byte, len(enf)), make([]*Policy, len(enf))
		for i, pt := range enf {
			keys[i], ps[i] = pt.key, &pt.cp.Policy
		}
		qkeys := make([][]byte, len(qt))
		for i, pt := range qt {
			qkeys[i] = pt.key
		}
		if err := qm.TakeAllQuotas(ctx, keys, ps, now, cost, res, qkeys, ops, qres); err != nil {
			return err
		}
		for i, pt := range enf {
			d := &pol[i]
			l.decisionInto(pt.cp, &res[i], now, d)
			d.cost, d.sum, d.taken = cost, keySum(pt.key), takenNone
		}
	} else {
		if len(enf) > 0 {
			if err := l.decideAll(ctx, store, sc, enf, now, cost, pol); err != nil {
				return err
			}
		}
		if err := l.consumeQuotas(ctx, store, qs, enf, qt, pol, ops, qres, now, cost); err != nil {
			return err
		}
	}
	l.addQuotaDecisions(ctx, out, qt, qres, amount, now, cost)
	return nil
}

// addQuotaDecisions writes the quotas' answers qres as decisions to the
// end of out (after the policies') and reports the quotas an admission
// used up.
func (l *Limiter) addQuotaDecisions(ctx context.Context, out []Decision, qt []polTarget, qres []QuotaResult, amount int64,
	now time.Time, cost int64) {
	np := len(out) - len(qt)
	admitted := true
	for i := range out[:np] {
		admitted = admitted && out[i].Allowed
	}
	for i, pt := range qt {
		d := quotaDecision(pt.cp, &qres[i], amount, now)
		d.cost, d.sum = cost, keySum(pt.key)
		out[np+i] = d
		admitted = admitted && d.Allowed
	}
	if admitted && !l.quiet {
		for i, pt := range qt {
			if r := &qres[i]; r.Used >= pt.cp.Limit+r.Extra {
				reportExhausted(ctx, l.telemetry, pt.cp.Name, pt.key, time.Unix(r.End, 0))
			}
		}
	}
}

// consumeQuotas runs the quotas after the policies decided pol: when they
// admitted, each quota is consumed in turn, and a quota that has no room
// gives back the quotas before it and the policies; otherwise the quotas
// are only read.
func (l *Limiter) consumeQuotas(ctx context.Context, store Store, qs QuotaStore, enf, qt []polTarget, pol []Decision,
	ops []QuotaOp, qres []QuotaResult, now time.Time, cost int64) error {
	admitted := true
	for i := range pol {
		admitted = admitted && pol[i].Allowed
	}
	for i, pt := range qt {
		if !admitted {
			ops[i].Kind = QuotaPeek
		}
		r, err := qs.Quota(ctx, pt.key, &ops[i])
		if err == nil && r.Allowed {
			qres[i] = r
			continue
		}
		// Give back what this check took, newest first.
		var errs []error
		if err != nil {
			errs = append(errs, err)
		}
		qres[i] = r
		if admitted {
			for j := i - 1; j >= 0; j-- {
				back := quotaOp(qt[j].cp, QuotaRefund, ops[j].Amount, now)
				_, rerr := qs.Quota(ctx, qt[j].key, &back)
				errs = append(errs, rerr)
			}
			if ref, ok := store.(Refunder); ok {
				for j := len(enf) - 1; j >= 0; j-- {
					errs = append(errs, ref.Refund(ctx, enf[j].key, &enf[j].cp.Policy, now, cost))
				}
			} else if len(enf) > 0 {
				errs = append(errs, fmt.Errorf("%w: giving back on a quota rejection needs a store implementing halt.Refunder, not %T", ErrUnsupported, store))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		// The others' standing, as if the request had not come.
		for j := range qt {
			if j != i {
				peek := quotaOp(qt[j].cp, QuotaPeek, ops[j].Amount, now)
				if s, err := qs.Quota(ctx, qt[j].key, &peek); err == nil {
					qres[j] = s
				}
			}
		}
		if pk, ok := store.(Peeker); ok && admitted {
			for j := range enf {
				if s, err := pk.Peek(ctx, enf[j].key, &enf[j].cp.Policy, now, cost); err == nil {
					c := pol[j].cost
					pol[j] = l.decision(enf[j].cp, &s, now)
					pol[j].cost, pol[j].sum = c, keySum(enf[j].key)
				}
			}
		}
		return nil
	}
	return nil
}

// quotaDecision renders a quota's answer as the Decision of its policy.
func quotaDecision(cp *compiled, r *QuotaResult, amount int64, now time.Time) Decision {
	limit := cp.Limit + r.Extra
	reset := max(0, time.Unix(r.End, 0).Sub(time.UnixMicro(r.Now)))
	d := Decision{
		Allowed:    r.Allowed,
		Reason:     ReasonAllowed,
		Policy:     cp.Name,
		Limit:      limit,
		Window:     time.Duration(r.End-r.Start) * time.Second,
		Remaining:  max(0, limit-r.Used) / amount,
		ResetAfter: reset,
		At:         now,
		cp:         cp,
	}
	if !r.Allowed {
		d.Reason, d.RetryAfter = ReasonQuotaExceeded, reset
	}
	return d
}

// undoQuota gives back what an admitted check took from a quota.
func (l *Limiter) undoQuota(ctx context.Context, store Store, s *Decision, req Request, c client, now time.Time) error {
	qs, ok := store.(QuotaStore)
	if !ok {
		return fmt.Errorf("%w: Undo of a quota needs a store implementing halt.QuotaStore, not %T", ErrUnsupported, store)
	}
	key, _, ok := l.buildKey(nil, s.cp, s.cp.KeyFunc, req, c)
	if !ok || keySum(key) != s.sum {
		return nil
	}
	op := quotaOp(s.cp, QuotaRefund, quotaAmount(s.cost), now)
	if _, err := qs.Quota(ctx, key, &op); err != nil {
		return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	return nil
}

// quotaStanding appends req's standing under each quota to out (Allowed:
// one more request of cost 1 fits).
func (l *Limiter) quotaStanding(ctx context.Context, req Request, c client, now time.Time, out []Decision) ([]Decision, error) {
	if len(l.quotas) == 0 {
		return out, nil
	}
	qs := l.store.(QuotaStore)
	for _, cp := range l.quotas {
		key, _, ok := l.buildKey(nil, cp, cp.KeyFunc, req, c)
		if !ok {
			continue
		}
		op := quotaOp(cp, QuotaPeek, 1, now)
		r, err := qs.Quota(ctx, key, &op)
		if err != nil {
			return out, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
		}
		out = append(out, quotaDecision(cp, &r, 1, now))
	}
	return out, nil
}

// TakeAllQuotasWith implements [QuotaMultiTaker] for a store that keeps
// quota states in memory: the caller holds, for the whole call, the lock
// that guards the states get reads and put writes (put with the period's
// end, in Unix seconds), and decides the policies with mt and pk. The
// quotas are checked first, the policies taken only when every quota has
// room, and the quotas consumed only when every policy admitted.
func TakeAllQuotasWith(ctx context.Context, mt MultiTaker, pk Peeker, get func(key []byte) QuotaState,
	put func(key []byte, st QuotaState, end int64), keys [][]byte, ps []*Policy, now time.Time, cost int64,
	out []Result, qkeys [][]byte, qops []QuotaOp, qout []QuotaResult) error {
	if len(qkeys) != len(qops) || len(qout) < len(qops) || len(keys) != len(ps) || len(out) < len(keys) {
		return fmt.Errorf("halt: TakeAllQuotas: %d quota keys, %d ops, room for %d; %d keys, %d policies, room for %d",
			len(qkeys), len(qops), len(qout), len(keys), len(ps), len(out))
	}
	us := now.UnixMicro()
	states := make([]QuotaState, len(qops))
	fit := true
	for i := range qops {
		states[i] = get(qkeys[i])
		peek := qops[i]
		peek.Kind = QuotaPeek
		st := states[i]
		qout[i], _ = peek.Apply(&st, us)
		fit = fit && qout[i].Allowed
	}
	admitted := fit
	switch {
	case len(keys) == 0:
	case fit:
		if err := mt.TakeAll(ctx, keys, ps, now, cost, out); err != nil {
			return err
		}
		for i := range keys {
			admitted = admitted && out[i].Allowed
		}
	default:
		for i := range keys {
			r, err := pk.Peek(ctx, keys[i], ps[i], now, cost)
			if err != nil {
				return err
			}
			out[i] = r
		}
	}
	if !admitted {
		return nil
	}
	for i := range qops {
		var changed bool
		qout[i], changed = qops[i].Apply(&states[i], us)
		if changed {
			put(qkeys[i], states[i], qout[i].End)
		}
	}
	return nil
}
