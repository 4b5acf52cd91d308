package halt

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// PenaltyTaker is a store that applies a client's penalty inside the
// decision, in one atomic step: TakePenalized reads the client's penalty
// state, rejects a banned client outright (deciding and charging nothing),
// decides the policies at their reduced form while the client is
// penalized (at their own otherwise) together with the quotas, all or
// nothing as [QuotaMultiTaker.TakeAllQuotas] does, and, when that
// rejects the request, records the violation ([PenaltyOp.Apply] with
// PenaltyRecord), which may start a penalty. No other operation on the
// client's penalty state, policies or quotas comes between these steps, so
// a violation that starts a penalty reduces the very next decision, on
// every instance sharing the store, and a ban rejects in the call that
// reads it. On Redis it is one script: one round trip, one Cluster slot.
//
// The limiter calls it for a check of a limiter with [WithPenalties] when
// every key of the check (its policies', its quotas' and the penalty's)
// names one client. A store without it keeps the multi-call path: one call
// reads the penalty state, one decides, and a rejection records with a
// third.
type PenaltyTaker interface {
	TakePenalized(ctx context.Context, pt *PenalizedTake) error
}

// PenalizedTake is one check for a [PenaltyTaker]: what to decide, and,
// filled in by the store, what it decided. Every key names one client
// (they share a hash tag).
type PenalizedTake struct {
	Keys     [][]byte  // the policies' keys
	Policies []*Policy // Keys[i]'s policy
	Reduced  []*Policy // Keys[i]'s policy at the penalty's multiplier, decided while the client is penalized
	Now      time.Time // the caller's instant; a store with its own clock uses that
	Cost     int64     // the request's cost (0: each policy's own)

	QuotaKeys [][]byte  // the quotas' keys
	QuotaOps  []QuotaOp // QuotaKeys[i]'s op, a QuotaConsume

	PenaltyKey []byte         // "halt:penalty:{<client>}"
	Config     *PenaltyConfig // the penalties' configuration
	Severity   float64        // recorded on a rejection that is a violation (0: nothing is recorded)

	Out      []Result      // Keys[i]'s answer, as TakeAllQuotas gives it; room for len(Keys)
	QuotaOut []QuotaResult // QuotaKeys[i]'s answer; room for len(QuotaKeys)
	Penalty  PenaltyState  // the client's penalty state after the call
	At       int64         // the instant decided at, Unix microseconds (the store's clock)

	Banned    bool // the client is banned: nothing was decided, Out and QuotaOut are untouched
	Penalized bool // the client was penalized: the Reduced policies were decided
	Violated  bool // the rejection recorded a violation of Severity
	Started   bool // that violation started a penalty
}

// Violation reports whether the answers in pt.Out and pt.QuotaOut are a
// rejection that records a violation: some policy or quota rejected, none
// of the policies for a cost above its capacity (no wait helps that
// request, and the limiter reports the capacity, not a limit hit), and
// Severity is positive. Stores call it after deciding.
func (pt *PenalizedTake) Violation() bool {
	if !(pt.Severity > 0) {
		return false
	}
	rejected := false
	for i := range pt.Keys {
		r := &pt.Out[i]
		if !r.Allowed {
			if r.Reason == ReasonCostExceedsCapacity {
				return false
			}
			rejected = true
		}
	}
	for i := range pt.QuotaKeys {
		rejected = rejected || !pt.QuotaOut[i].Allowed
	}
	return rejected
}

// Check reports malformed input: slices of mismatched lengths, a missing
// penalty key or config. Stores call it first.
func (pt *PenalizedTake) Check() error {
	if pt == nil {
		return errors.New("halt: TakePenalized: nil *PenalizedTake")
	}
	n, nq := len(pt.Keys), len(pt.QuotaKeys)
	if len(pt.Policies) != n || len(pt.Reduced) != n || len(pt.Out) < n || len(pt.QuotaOps) != nq ||
		len(pt.QuotaOut) < nq || pt.Config == nil || len(pt.PenaltyKey) == 0 {
		return fmt.Errorf("halt: TakePenalized: %d keys, %d policies, %d reduced, room for %d; %d quota keys, %d ops, "+
			"room for %d; penalty key %q, config %v", n, len(pt.Policies), len(pt.Reduced), len(pt.Out), nq,
			len(pt.QuotaOps), len(pt.QuotaOut), pt.PenaltyKey, pt.Config != nil)
	}
	return nil
}

// PenaltyTable is the penalty states a store keeps in memory, as
// [TakePenalizedWith] reads and writes them under a lock its caller holds.
type PenaltyTable interface {
	// PenaltyState returns key's state at now (Unix microseconds): the zero
	// state for a key it does not hold or whose state no longer matters.
	PenaltyState(key []byte, now int64) PenaltyState
	// SetPenaltyState stores st, computed under c, for keep after now, or
	// drops key's state when keep is 0. It reports false when it has no
	// room for a new key: the violation is then not recorded, and the
	// decision stands.
	SetPenaltyState(key []byte, c *PenaltyConfig, st *PenaltyState, now int64, keep time.Duration) bool
}

// TakePenalizedWith implements [PenaltyTaker] for a store that keeps
// penalty states in memory, in table: the caller holds, for the whole
// call, the lock that guards table. The policies and quotas are decided by
// store, which must implement [MultiTaker] and, when there are quotas,
// [QuotaMultiTaker] (one policy without quotas is its Take). The store's
// clock is pt.Now.
func TakePenalizedWith(ctx context.Context, store Store, table PenaltyTable, pt *PenalizedTake) error {
	if err := pt.Check(); err != nil {
		return err
	}
	now := pt.Now.UnixMicro()
	st := table.PenaltyState(pt.PenaltyKey, now)
	pt.At, pt.Banned, pt.Penalized, pt.Violated, pt.Started = now, false, false, false, false
	if st.Until > now && st.Banned {
		pt.Penalty, pt.Banned = st, true
		return nil
	}
	ps := pt.Policies
	if st.Until > now {
		ps, pt.Penalized = pt.Reduced, true
	}
	switch {
	case len(pt.QuotaKeys) > 0:
		qm, ok := store.(QuotaMultiTaker)
		if !ok {
			return fmt.Errorf("%w: TakePenalizedWith with quotas needs a halt.QuotaMultiTaker, not %T", ErrUnsupported, store)
		}
		if err := qm.TakeAllQuotas(ctx, pt.Keys, ps, pt.Now, pt.Cost, pt.Out, pt.QuotaKeys, pt.QuotaOps, pt.QuotaOut); err != nil {
			return err
		}
	case len(pt.Keys) == 1:
		r, err := store.Take(ctx, pt.Keys[0], ps[0], pt.Now, pt.Cost)
		if err != nil {
			return err
		}
		pt.Out[0] = r
	case len(pt.Keys) > 1:
		mt, ok := store.(MultiTaker)
		if !ok {
			return fmt.Errorf("%w: TakePenalizedWith needs a halt.MultiTaker, not %T", ErrUnsupported, store)
		}
		if err := mt.TakeAll(ctx, pt.Keys, ps, pt.Now, pt.Cost, pt.Out); err != nil {
			return err
		}
	}
	if pt.Violation() {
		rec := st
		op := PenaltyOp{Kind: PenaltyRecord, Config: pt.Config, Severity: pt.Severity, Now: pt.Now}
		started, keep := op.Apply(&rec, now)
		if table.SetPenaltyState(pt.PenaltyKey, pt.Config, &rec, now, keep) {
			st, pt.Started, pt.Violated = rec, started, true
		}
	}
	pt.Penalty = st
	return nil
}
